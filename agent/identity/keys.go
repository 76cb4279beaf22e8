package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/internal/atomicfile"
)

// Files under the data directory.
const (
	KeyFile        = "node.key"
	InstanceIDFile = "instance-id"
)

// instanceIDBytes of randomness: 16 hex digits, short in every online
// message, and a collision among a fleet's devices is out of reach.
const instanceIDBytes = 8

// ReasonReplaced is the reason of the warning event that says an identity
// file was found damaged and replaced (the node has a new key or instance id).
const ReasonReplaced = "IdentityReplaced"

// errDamaged is wrapped when an identity file does not read as one.
var errDamaged = errors.New("damaged identity file")

// Identity is the device's own key pair and instance id.
type Identity struct {
	Key ed25519.PrivateKey
	// InstanceID is random, drawn at first start: two devices that claim
	// one node name have different ones.
	InstanceID string
	// Replaced says, one line each, what was found damaged and replaced
	// (the damaged file is kept beside, renamed *.corrupt-<time>).
	Replaced []string
}

// PublicKey is the base64 of the raw ed25519 public key, the form
// mqtt.trustedKeys uses.
func (id *Identity) PublicKey() string {
	return base64.StdEncoding.EncodeToString(id.Key.Public().(ed25519.PublicKey))
}

// Load reads the identity kept in dir and creates what is missing: on
// first start, a new key pair (KeyFile, PEM PKCS#8, mode 0600) and instance
// id (InstanceIDFile), each written atomically. A damaged file never stops
// the agent (a device nobody can reach must come up): it is moved aside and
// replaced, and Replaced says so. Errors are only those of the disk.
func Load(dir string, now time.Time) (*Identity, error) {
	id := &Identity{}
	keyPath := filepath.Join(dir, KeyFile)
	key, err := readKey(keyPath)
	if err == nil {
		id.Key = key
	} else {
		if errors.Is(err, errDamaged) {
			if id.Replaced, err = moveAside(keyPath, err, now, id.Replaced); err != nil {
				return nil, err
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if id.Key, err = newKey(keyPath); err != nil {
			return nil, err
		}
	}
	idPath := filepath.Join(dir, InstanceIDFile)
	inst, err := readInstanceID(idPath)
	if err == nil {
		id.InstanceID = inst
		return id, nil
	}
	if errors.Is(err, errDamaged) {
		if id.Replaced, err = moveAside(idPath, err, now, id.Replaced); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	b := make([]byte, instanceIDBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	id.InstanceID = hex.EncodeToString(b)
	if err := atomicfile.Write(idPath, []byte(id.InstanceID+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write instance id: %w", err)
	}
	return id, nil
}

func readKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s: no PEM \"PRIVATE KEY\" block", errDamaged, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errDamaged, path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s: a %T, not an ed25519 key", errDamaged, path, k)
	}
	// A key someone made readable to others is narrowed back, not replaced:
	// the node keeps its identity.
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, err
		}
	}
	return priv, nil
}

func newKey(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("write node key: %w", err)
	}
	return priv, nil
}

func readInstanceID(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(data))
	if len(id) != 2*instanceIDBytes || !isHex(id) {
		return "", fmt.Errorf("%w: %s: want %d lower-case hex digits", errDamaged, path, 2*instanceIDBytes)
	}
	return id, nil
}

// moveAside renames a damaged file to <path>.corrupt-<time> and notes why.
func moveAside(path string, why error, now time.Time, notes []string) ([]string, error) {
	aside, err := atomicfile.MoveAside(path, now)
	if err != nil {
		return notes, fmt.Errorf("move damaged %s aside: %w", path, err)
	}
	return append(notes, fmt.Sprintf("%v: moved aside as %s and replaced", why, filepath.Base(aside))), nil
}

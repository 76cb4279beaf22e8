package fleet

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/outpost-edge/outpost/sync/protocol"
)

// Signer signs desired documents with an ed25519 key under a key id, the
// id the nodes list in mqtt.trustedKeys.
type Signer struct {
	KeyID string
	Key   ed25519.PrivateKey
}

// Sign wraps doc (NodeState JSON) in a Signed envelope for target, the full
// desired topic it will be published on: nodes accept it there only.
func (s *Signer) Sign(target string, doc []byte) ([]byte, error) {
	out, err := protocol.Sign(s.KeyID, s.Key, target, doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return out, nil
}

// keyID is "" for a nil signer (an unsigned document).
func (s *Signer) keyID() string {
	if s == nil {
		return ""
	}
	return s.KeyID
}

// PublicKey is the base64 public key, as mqtt.trustedKeys holds it.
func (s *Signer) PublicKey() string {
	return base64.StdEncoding.EncodeToString(s.Key.Public().(ed25519.PublicKey))
}

// KeyID derives a key id from a public key: "ed25519-" and the first 8
// bytes of its SHA-256 in hex. Deterministic, so a key file needs no
// companion file for its id.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519-" + hex.EncodeToString(sum[:8])
}

// GenerateKey returns a new signer; an empty id is KeyID of its public key.
func GenerateKey(id string) (*Signer, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if id == "" {
		id = KeyID(pub)
	}
	return &Signer{KeyID: id, Key: priv}, nil
}

// MarshalKey encodes the private key as PEM PKCS#8 ("PRIVATE KEY"), the form
// `openssl genpkey -algorithm ed25519` writes.
func MarshalKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteKey writes the private key to path, mode 0600; it never overwrites.
func WriteKey(path string, priv ed25519.PrivateKey) error {
	data, err := MarshalKey(priv)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%w: write key: %w", ErrInvalid, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write key: %w", err)
	}
	return f.Close()
}

// LoadSigner reads a PEM PKCS#8 ed25519 private key; an empty id is KeyID
// of its public key.
func LoadSigner(path, id string) (*Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: signing key: %w", ErrInvalid, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s: want a PEM \"PRIVATE KEY\" block (PKCS#8 ed25519)", ErrInvalid, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s: a %T, want an ed25519 key", ErrInvalid, path, k)
	}
	if id == "" {
		id = KeyID(priv.Public().(ed25519.PublicKey))
	}
	return &Signer{KeyID: id, Key: priv}, nil
}

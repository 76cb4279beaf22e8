package identity

import (
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func TestLoadFirstStartThenKept(t *testing.T) {
	dir := t.TempDir()
	first, err := Load(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.InstanceID) != 16 || !isHex(first.InstanceID) || len(first.Replaced) != 0 {
		t.Fatalf("first start: instance id %q, replaced %v", first.InstanceID, first.Replaced)
	}
	if raw, err := base64.StdEncoding.DecodeString(first.PublicKey()); err != nil || len(raw) != ed25519.PublicKeySize {
		t.Fatalf("public key %q: %v", first.PublicKey(), err)
	}
	for _, f := range []string{KeyFile, InstanceIDFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", f, err, fi.Mode().Perm())
		}
	}
	again, err := Load(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Key.Equal(first.Key) || again.InstanceID != first.InstanceID {
		t.Fatal("the second start has another identity")
	}
	other, err := Load(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	if other.InstanceID == first.InstanceID || other.Key.Equal(first.Key) {
		t.Fatal("two data dirs drew the same identity")
	}
}

func TestLoadDamaged(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		keepsKey, keepsID   bool
	}{
		{"key is not PEM", KeyFile, "garbage", false, true},
		{"key is truncated", KeyFile, "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2Vw\n-----END PRIVATE KEY-----\n", false, true},
		{"key is empty (power cut on a non-atomic copy)", KeyFile, "", false, true},
		{"instance id is not hex", InstanceIDFile, "not-an-id-at-all\n", true, false},
		{"instance id is short", InstanceIDFile, "abcd\n", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			before, err := Load(dir, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			after, err := Load(dir, now)
			if err != nil {
				t.Fatalf("a damaged %s stopped the start: %v", tc.file, err)
			}
			if after.Key.Equal(before.Key) != tc.keepsKey || (after.InstanceID == before.InstanceID) != tc.keepsID {
				t.Fatalf("kept key %v, kept id %v; want %v, %v", after.Key.Equal(before.Key), after.InstanceID == before.InstanceID, tc.keepsKey, tc.keepsID)
			}
			if len(after.Replaced) != 1 || !strings.Contains(after.Replaced[0], tc.file) {
				t.Fatalf("replaced %v, want one note naming %s", after.Replaced, tc.file)
			}
			aside, err := os.ReadFile(filepath.Join(dir, tc.file+".corrupt-20261207T120000.000Z"))
			if err != nil || string(aside) != tc.content {
				t.Fatalf("damaged file kept aside: %q, %v", aside, err)
			}
			if again, err := Load(dir, now); err != nil || !again.Key.Equal(after.Key) || again.InstanceID != after.InstanceID {
				t.Fatalf("the replacement did not persist: %v", err)
			}
		})
	}
}

func TestLoadNarrowsAWideKey(t *testing.T) {
	dir := t.TempDir()
	first, err := Load(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, KeyFile)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := Load(dir, now)
	if err != nil || !again.Key.Equal(first.Key) {
		t.Fatalf("a readable key was replaced or failed: %v", err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestLoadDiskErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing"), now); err == nil {
		t.Fatal("a missing data dir gave an identity that is not kept")
	}
}

package ctrd

import (
	"errors"
	"testing"
)

func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	l, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDir(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("second lock = %v, want %v", err, ErrInUse)
	}
	if err := l.unlock(); err != nil {
		t.Fatal(err)
	}
	l, err = lockDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l.unlock()
}

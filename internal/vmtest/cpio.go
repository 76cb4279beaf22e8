package vmtest

import (
	"bufio"
	"fmt"
	"io"
)

// cpioWriter writes a cpio archive in the "newc" format the kernel unpacks
// as an initramfs. Entries are written in order; parents come first.
type cpioWriter struct {
	w   *bufio.Writer
	ino int
	n   int64
}

func newCPIO(w io.Writer) *cpioWriter { return &cpioWriter{w: bufio.NewWriter(w), ino: 1} }

const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
)

// entry writes one header, name and body, each padded to four bytes.
func (c *cpioWriter) entry(name string, mode uint32, body []byte) error {
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(name)+1, 0)
	if err := c.write([]byte(hdr)); err != nil {
		return err
	}
	if err := c.write(append([]byte(name), 0)); err != nil {
		return err
	}
	if err := c.pad(); err != nil {
		return err
	}
	if err := c.write(body); err != nil {
		return err
	}
	return c.pad()
}

func (c *cpioWriter) write(b []byte) error {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return err
}

func (c *cpioWriter) pad() error {
	for c.n%4 != 0 {
		if err := c.write([]byte{0}); err != nil {
			return err
		}
	}
	return nil
}

func (c *cpioWriter) Dir(name string) error { return c.entry(name, modeDir|0o755, nil) }

func (c *cpioWriter) File(name string, perm uint32, body []byte) error {
	return c.entry(name, modeRegular|perm, body)
}

func (c *cpioWriter) Symlink(name, target string) error {
	return c.entry(name, modeSymlink|0o777, []byte(target))
}

// Close writes the trailer and flushes.
func (c *cpioWriter) Close() error {
	if err := c.entry("TRAILER!!!", 0, nil); err != nil {
		return err
	}
	return c.w.Flush()
}

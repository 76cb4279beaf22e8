package logs

import (
	"context"
	"os"
	"time"
)

// follow prints records appended to cur, read so far by lr, and moves on to
// the next file whenever cur has been rotated away, until ctx is done.
//
// A rotation is seen as path naming another file than cur (a new inode).
// The Writer writes nothing to a file after renaming it, so cur is read to
// its end once more, then the file that came after it is opened: the one a
// rank newer among the rotated files, or the live file. Several rotations
// between two polls are thus followed file by file, without loss as long as
// the files are still there.
func follow(ctx context.Context, path string, cur *os.File, lr *lineReader, p *printer, poll time.Duration) error {
	defer func() { cur.Close() }()
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		if err := drain(ctx, lr, p); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		next := successor(path, cur)
		if next != nil {
			if err := drain(ctx, lr, p); err != nil {
				next.Close()
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if err := p.handle(lr.rest()); err != nil {
				next.Close()
				return err
			}
			cur.Close()
			cur, lr = next, newLineReader(next)
			continue
		}
		if err := p.out.Flush(); err != nil {
			return err
		}
		t.Reset(poll)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// successor opens the file written after cur, or returns nil while cur is
// still the live file or the next file cannot be told yet.
func successor(path string, cur *os.File) *os.File {
	live, err := os.Stat(path)
	if err != nil {
		return nil // between the renames of a rotation without hard links
	}
	ci, err := cur.Stat()
	if err != nil || os.SameFile(live, ci) {
		return nil
	}
	idx, err := rotatedIndexes(path)
	if err != nil {
		return nil
	}
	at := -1
	for _, i := range idx {
		fi, err := os.Stat(rotatedName(path, i))
		if err == nil && os.SameFile(fi, ci) {
			at = i
			break
		}
	}
	// Next is the closest rank below cur's, or the live file. When cur was
	// removed as the oldest, every file left came after it: take the oldest.
	name := path
	switch {
	case at > 0:
		for _, i := range idx {
			if i < at {
				name = rotatedName(path, i)
			}
		}
	case len(idx) > 0:
		name = rotatedName(path, idx[len(idx)-1])
	}
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	return f
}

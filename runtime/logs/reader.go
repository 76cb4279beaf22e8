package logs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"
)

// DefaultPollInterval is how often a follower looks for new records.
const DefaultPollInterval = 250 * time.Millisecond

// ReadOptions select what Read prints.
type ReadOptions struct {
	// Tail is the number of lines to print from the end; -1 prints all.
	// With Follow, Tail 0 prints only what is written from now on.
	Tail int
	// Follow keeps printing records as they are written, across rotations,
	// until the context is done.
	Follow bool
	// Stream is Stdout, Stderr, or "" for both.
	Stream string
	// Timestamps prefixes each line with the time of its first record.
	Timestamps bool
	// PollInterval is how often a follower looks for new records (default
	// DefaultPollInterval).
	PollInterval time.Duration
}

// Read prints the container output logged at path and in its rotated files,
// oldest first, one line per line the container wrote: P records are joined,
// malformed lines (such as a line torn by a crash) are skipped, and each
// line ends with a newline, even one whose stream ended without.
//
// Without Follow, Read returns at the end of the live file. With Follow it
// returns nil once ctx is done. A missing live file is an error wrapping
// fs.ErrNotExist.
func Read(ctx context.Context, path string, opts ReadOptions, w io.Writer) error {
	if opts.Stream != "" && !validStream(opts.Stream) {
		return fmt.Errorf("%w: stream %q", ErrInvalid, opts.Stream)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	files, err := openSet(path)
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()

	out := bufio.NewWriterSize(w, scanChunk)
	p := &printer{out: out, stream: opts.Stream, timestamps: opts.Timestamps}
	first, off := 0, int64(0)
	if opts.Tail >= 0 {
		first, off, err = tailStart(files, opts.Tail, opts.Stream, !opts.Follow)
		if err != nil {
			return err
		}
		p.tail = newRing(opts.Tail)
	}
	last := len(files) - 1
	var lr *lineReader
	for i := first; i <= last; i++ {
		if _, err := files[i].Seek(off, io.SeekStart); err != nil {
			return fmt.Errorf("seek log file: %w", err)
		}
		off = 0
		lr = newLineReader(files[i])
		if err := drain(ctx, lr, p); err != nil {
			return err
		}
		if i < last || !opts.Follow {
			if err := p.handle(lr.rest()); err != nil {
				return err
			}
		}
	}
	if !opts.Follow {
		if err := p.flushPending(); err != nil {
			return err
		}
	}
	if err := p.endTail(); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write log output: %w", err)
	}
	if !opts.Follow {
		return nil
	}
	f := files[last]
	files = files[:last] // follow owns the live file now
	return follow(ctx, path, f, lr, p, opts.PollInterval)
}

// drain prints the complete lines lr has until EOF.
func drain(ctx context.Context, lr *lineReader, p *printer) error {
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line, err := lr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := p.handle(line); err != nil {
			return err
		}
	}
}

// openSet opens the live file and the rotated ones, and returns them oldest
// first. It opens the live file first and then from the newest rotated file
// on: a rotation in between shows the live file again under path.1, which is
// dropped as a duplicate, and shifts the others to where they are opened
// next.
func openSet(path string) (files []*os.File, err error) {
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Close()
			}
		}
	}()
	live, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	files = append(files, live)
	idx, err := rotatedIndexes(path)
	if err != nil {
		return files, err
	}
	var infos []os.FileInfo
	for _, i := range idx {
		f, err := os.Open(rotatedName(path, i))
		if errors.Is(err, fs.ErrNotExist) {
			continue // rotated away since the listing
		}
		if err != nil {
			return files, fmt.Errorf("open rotated log file: %w", err)
		}
		if infos == nil {
			if infos, err = statAll(files); err != nil {
				f.Close()
				return files, err
			}
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return files, fmt.Errorf("stat log file: %w", err)
		}
		if slices.ContainsFunc(infos, func(o os.FileInfo) bool { return os.SameFile(o, fi) }) {
			f.Close()
			continue
		}
		files = append(files, f)
		infos = append(infos, fi)
	}
	slices.Reverse(files)
	return files, nil
}

func statAll(files []*os.File) ([]os.FileInfo, error) {
	infos := make([]os.FileInfo, 0, len(files))
	for _, f := range files {
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("stat log file: %w", err)
		}
		infos = append(infos, fi)
	}
	return infos, nil
}

package logs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// rotatedName is the name of the i-th rotated file; 1 is the newest.
func rotatedName(path string, i int) string { return path + "." + strconv.Itoa(i) }

// rotatedIndexes lists the indexes of path's rotated files, ascending
// (newest first).
func rotatedIndexes(path string) ([]int, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list rotated log files: %w", err)
	}
	var idx []int
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || suffix == "" || suffix[0] == '0' {
			continue
		}
		i, err := strconv.Atoi(suffix)
		if err != nil || i < 1 || strconv.Itoa(i) != suffix {
			continue
		}
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx, nil
}

// removeStale removes rotated files that MaxFiles no longer keeps, as after
// a restart with a lower MaxFiles.
func (w *Writer) removeStale() {
	idx, err := rotatedIndexes(w.path)
	if err != nil {
		w.log.Warn().Err(err).Msg("cannot list rotated log files")
		return
	}
	for _, i := range idx {
		if i < w.opts.MaxFiles {
			continue
		}
		if err := os.Remove(rotatedName(w.path, i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			w.log.Warn().Err(err).Int("index", i).Msg("cannot remove rotated log file")
		}
	}
}

// rotate moves the live file to path.1, shifting older ones and removing
// the oldest, and continues in a new empty file. It runs with w.mu held.
//
// The new file is created first under a temporary name, so that a failure
// to create it (a full disk) changes nothing. The old file is hard-linked
// to path.1 and the new one renamed over path, so path always exists for
// readers; a reader may briefly see the same file at path and path.1.
func (w *Writer) rotate() bool {
	err := w.rotateFiles()
	if err != nil {
		if !w.rotateFailing {
			w.rotateFailing = true
			w.log.Error().Err(err).Msg("cannot rotate log file")
		}
		return false
	}
	if w.rotateFailing {
		w.rotateFailing = false
		w.log.Info().Msg("log rotation resumed")
	}
	return true
}

func (w *Writer) rotateFiles() error {
	tmp := w.path + ".tmp"
	nf, err := os.OpenFile(tmp, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return fmt.Errorf("create log file: %w", err)
	}
	abort := func(err error) error {
		nf.Close()
		os.Remove(tmp)
		return err
	}
	if keep := w.opts.MaxFiles - 1; keep > 0 {
		if err := os.Remove(rotatedName(w.path, keep)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return abort(fmt.Errorf("remove oldest log file: %w", err))
		}
		for i := keep - 1; i >= 1; i-- {
			err := os.Rename(rotatedName(w.path, i), rotatedName(w.path, i+1))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return abort(fmt.Errorf("shift rotated log file: %w", err))
			}
		}
		if err := os.Link(w.path, rotatedName(w.path, 1)); err != nil {
			// No hard links here: fall back to a rename, leaving a moment
			// without a live file.
			if err := os.Rename(w.path, rotatedName(w.path, 1)); err != nil {
				return abort(fmt.Errorf("rotate log file: %w", err))
			}
		}
	}
	if err := os.Rename(tmp, w.path); err != nil {
		return abort(fmt.Errorf("replace log file: %w", err))
	}
	if err := w.f.Close(); err != nil {
		w.log.Debug().Err(err).Msg("close rotated log file")
	}
	w.f = nf
	w.size = 0
	w.torn = false
	return nil
}

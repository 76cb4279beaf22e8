package logs

import (
	"fmt"
	"os"
)

// tailStart finds where a forward read of files (oldest first) must start
// to see every record of the last n lines: it returns the file's index and
// the offset in it. Reading from there may yield older lines too; the
// caller keeps the last n.
//
// A line is a run of P records of one stream ended by an F record. Going
// backwards, an F record ends a line, and the stream's previous F record
// bounds that line's start; the scan stops once n lines are counted and the
// start of each of them is bounded. When countOpen is set, a stream's last
// line still without its F record counts as a line (it will be printed as
// is); otherwise it is only kept whole for the F record to come.
func tailStart(files []*os.File, n int, stream string, countOpen bool) (int, int64, error) {
	last := len(files) - 1
	if n == 0 {
		fi, err := files[last].Stat()
		if err != nil {
			return 0, 0, fmt.Errorf("stat log file: %w", err)
		}
		return last, fi.Size(), nil
	}
	var (
		count int
		open  [2]bool // the stream's earliest counted line has no bound yet
		seen  [2]bool
	)
	for i := last; i >= 0; i-- {
		fi, err := files[i].Stat()
		if err != nil {
			return 0, 0, fmt.Errorf("stat log file: %w", err)
		}
		start := int64(-1)
		err = scanBack(files[i], fi.Size(), func(line []byte, next int64) bool {
			rec, err := ParseLine(line)
			if err != nil || (stream != "" && rec.Stream != stream) {
				return true
			}
			s := streamIndex(rec.Stream)
			first := !seen[s]
			seen[s] = true
			if rec.Partial {
				if first {
					open[s] = true
					if countOpen && count < n {
						count++
					}
				}
				return true
			}
			if count < n {
				count++
				open[s] = true
				return true
			}
			if open[s] {
				open[s] = false
				if !open[0] && !open[1] {
					start = next
					return false
				}
			}
			return true
		})
		if err != nil {
			return 0, 0, err
		}
		if start >= 0 {
			return i, start, nil
		}
	}
	return 0, 0, nil
}

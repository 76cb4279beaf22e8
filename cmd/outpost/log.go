package main

import (
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/cmd/outpost/config"
)

// newLogger builds the process logger: a console writer on a terminal, JSON
// lines otherwise (journald, files, log shippers), as cfg.Format says.
func newLogger(cfg config.Log, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	f, isFile := w.(*os.File)
	tty := isFile && isatty.IsTerminal(f.Fd())
	if cfg.Format == "console" || (cfg.Format == "auto" && tty) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !tty}
	}
	// Milliseconds: a pod's start is a matter of tens of them.
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

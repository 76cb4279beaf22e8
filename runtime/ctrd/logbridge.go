package ctrd

import (
	"context"
	"io"

	"github.com/containerd/log"
	"github.com/rs/zerolog"
	"github.com/sirupsen/logrus"
)

// withLogger returns ctx carrying a containerd logger (logrus) that forwards
// every entry to zl. containerd's plugins log through log.G(ctx), and the
// contexts they get descend from the one handed to server.New and Start.
func withLogger(ctx context.Context, zl zerolog.Logger) context.Context {
	l := logrus.New()
	l.Out = io.Discard
	l.Level = logrusLevel(zl)
	l.AddHook(zerologHook{zl: zl})
	return log.WithLogger(ctx, logrus.NewEntry(l))
}

// logrusLevel is the lowest level zl writes, so logrus does not build
// entries zl drops. It asks zl rather than reading GetLevel: the zero
// Logger and zerolog.Nop() write nothing whatever their level.
func logrusLevel(zl zerolog.Logger) logrus.Level {
	for _, l := range []struct {
		zl zerolog.Level
		lr logrus.Level
	}{
		{zerolog.TraceLevel, logrus.TraceLevel},
		{zerolog.DebugLevel, logrus.DebugLevel},
		{zerolog.InfoLevel, logrus.InfoLevel},
		{zerolog.WarnLevel, logrus.WarnLevel},
		{zerolog.ErrorLevel, logrus.ErrorLevel},
	} {
		if e := zl.WithLevel(l.zl); e.Enabled() {
			e.Discard()
			return l.lr
		}
	}
	return logrus.PanicLevel
}

type zerologHook struct{ zl zerolog.Logger }

func (zerologHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h zerologHook) Fire(e *logrus.Entry) error {
	var ev *zerolog.Event
	switch e.Level {
	case logrus.TraceLevel:
		ev = h.zl.Trace()
	case logrus.DebugLevel:
		ev = h.zl.Debug()
	case logrus.InfoLevel:
		ev = h.zl.Info()
	case logrus.WarnLevel:
		ev = h.zl.Warn()
	default: // error, fatal, panic: containerd's own exit decisions stay with logrus
		ev = h.zl.Error()
	}
	for k, v := range e.Data {
		if err, ok := v.(error); ok {
			ev = ev.AnErr(k, err)
			continue
		}
		ev = ev.Interface(k, v)
	}
	ev.Msg(e.Message)
	return nil
}

// RouteGlobalLogs sends what containerd logs through its process-wide
// logger (log.L, used where a plugin has no context) to zl instead of
// stderr. It changes logrus' standard logger for the whole process, so only
// main calls it, and never in shim mode: the shim logs to containerd.
func RouteGlobalLogs(zl zerolog.Logger) {
	std := logrus.StandardLogger()
	std.SetOutput(io.Discard)
	std.SetLevel(logrusLevel(zl))
	std.AddHook(zerologHook{zl: zl.With().Str("component", "containerd").Logger()})
}

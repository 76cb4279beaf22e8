package ctrd

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/containerd/log"
	"github.com/rs/zerolog"
	"github.com/sirupsen/logrus"
)

func TestLogrusLevel(t *testing.T) {
	var buf bytes.Buffer
	tests := []struct {
		name string
		zl   zerolog.Logger
		want logrus.Level
	}{
		{"zero value", zerolog.Logger{}, logrus.PanicLevel},
		{"nop", zerolog.Nop(), logrus.PanicLevel},
		{"debug", zerolog.New(&buf).Level(zerolog.DebugLevel), logrus.DebugLevel},
		{"warn", zerolog.New(&buf).Level(zerolog.WarnLevel), logrus.WarnLevel},
		{"disabled", zerolog.New(&buf).Level(zerolog.Disabled), logrus.PanicLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := logrusLevel(tt.zl); got != tt.want {
				t.Errorf("logrusLevel = %v, want %v", got, tt.want)
			}
		})
	}
	if buf.Len() != 0 {
		t.Errorf("probing levels wrote %q", buf.String())
	}
}

func TestWithLogger(t *testing.T) {
	var buf bytes.Buffer
	ctx := withLogger(context.Background(), zerolog.New(&buf).Level(zerolog.InfoLevel))
	log.G(ctx).WithField("id", "c1").WithError(errors.New("boom")).Warn("shim disconnected")
	log.G(ctx).Debug("dropped")
	got := buf.String()
	for _, want := range []string{`"level":"warn"`, `"id":"c1"`, `"error":"boom"`, `"message":"shim disconnected"`} {
		if !strings.Contains(got, want) {
			t.Errorf("log %s lacks %s", got, want)
		}
	}
	if strings.Contains(got, "dropped") {
		t.Errorf("debug entry passed an info logger: %s", got)
	}
}

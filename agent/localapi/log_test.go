package localapi

import (
	"testing"

	"github.com/rs/zerolog"
)

// testLogger sends the server's logs to the test's log.
func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.ConsoleWriter{Out: zerolog.TestWriter{T: t}, NoColor: true}).Level(zerolog.DebugLevel)
}

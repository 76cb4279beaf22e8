package logs

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	tests := []struct {
		name    string
		line    string
		want    Record
		wantErr bool
	}{
		{name: "full", line: "2026-01-02T03:04:05.123456789Z stdout F hello world\n",
			want: Record{Time: ts, Stream: Stdout, Content: []byte("hello world")}},
		{name: "no newline", line: "2026-01-02T03:04:05.123456789Z stderr F x",
			want: Record{Time: ts, Stream: Stderr, Content: []byte("x")}},
		{name: "partial", line: "2026-01-02T03:04:05.123456789Z stdout P abc\n",
			want: Record{Time: ts, Stream: Stdout, Partial: true, Content: []byte("abc")}},
		{name: "empty content", line: "2026-01-02T03:04:05.123456789Z stdout F \n",
			want: Record{Time: ts, Stream: Stdout, Content: []byte{}}},
		{name: "empty content no space", line: "2026-01-02T03:04:05.123456789Z stdout F\n",
			want: Record{Time: ts, Stream: Stdout}},
		{name: "content keeps spaces", line: "2026-01-02T03:04:05.123456789Z stdout F  a  b \n",
			want: Record{Time: ts, Stream: Stdout, Content: []byte(" a  b ")}},
		{name: "tag attributes", line: "2026-01-02T03:04:05.123456789Z stdout P:x:y c\n",
			want: Record{Time: ts, Stream: Stdout, Partial: true, Content: []byte("c")}},
		{name: "offset time", line: "2026-01-02T05:04:05.123456789+02:00 stdout F z\n",
			want: Record{Time: ts, Stream: Stdout, Content: []byte("z")}},
		{name: "empty", line: "", wantErr: true},
		{name: "time only", line: "2026-01-02T03:04:05Z", wantErr: true},
		{name: "torn time", line: "2026-01-02T03:0", wantErr: true},
		{name: "bad time", line: "yesterday stdout F x", wantErr: true},
		{name: "bad stream", line: "2026-01-02T03:04:05Z stdin F x", wantErr: true},
		{name: "no tag", line: "2026-01-02T03:04:05Z stdout", wantErr: true},
		{name: "bad tag", line: "2026-01-02T03:04:05Z stdout X x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine([]byte(tt.line))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(tt.want.Time) || got.Stream != tt.want.Stream ||
				got.Partial != tt.want.Partial || !bytes.Equal(got.Content, tt.want.Content) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"2026-01-02T03:04:05.123456789Z stdout F hello\n",
		"2026-01-02T03:04:05Z stderr P part",
		"2026-01-02T03:04:05+02:00 stdout F:a \n",
		"2026-01-02T03:04:05Z stdout F",
		"2026-01-02T03:0",
		"garbage",
		"",
		"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseLine(line)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			return
		}
		// What parses is written back the same way.
		again, err := ParseLine(appendRecord(nil, r.Time, r.Stream, r.Partial, r.Content))
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if !again.Time.Equal(r.Time) || again.Stream != r.Stream || again.Partial != r.Partial ||
			!bytes.Equal(again.Content, r.Content) {
			t.Fatalf("reparse: got %+v, want %+v", again, r)
		}
	})
}

package catdata

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/catmark/catmark/internal/fixture"
	"github.com/catmark/catmark/landmark"
)

// pts builds Points from x0, y0, …, x8, y8.
func pts(v ...float64) landmark.Points {
	p, err := landmark.FromFlat(v)
	if err != nil {
		panic(err)
	}
	return p
}

func TestParseCat(t *testing.T) {
	seq := pts(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
	cases := []struct {
		name    string
		in      string
		want    landmark.Points
		wantErr error
		errText string // part of the message
	}{
		{"dataset style, trailing space", "9 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 ", seq, nil, ""},
		{"trailing newline", "9 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 \n", seq, nil, ""},
		{"CRLF and tabs", "9\t1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\r\n", seq, nil, ""},
		{"no trailing space", "9 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18", seq, nil, ""},
		{"decimals, negatives, beyond the frame", "9 175.5 160.25 239 162 -3 -0.5 1e3 2E-1 +4 5 6 7 8 9 10 11 12 13 ",
			pts(175.5, 160.25, 239, 162, -3, -0.5, 1000, 0.2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13), nil, ""},
		{"leading BOM", "\ufeff9 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 ", seq, nil, ""},
		{"empty", "", landmark.Points{}, ErrMalformed, "empty"},
		{"only spaces", "  \n ", landmark.Points{}, ErrMalformed, "empty"},
		{"eight points", "8 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 ", landmark.Points{}, ErrPointCount, "8 points declared"},
		{"ten points", "10 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 ", landmark.Points{}, ErrPointCount, "10 points"},
		{"count not a number", "nine 1 2", landmark.Points{}, ErrMalformed, `"nine"`},
		{"count negative", "-9 1 2", landmark.Points{}, ErrMalformed, "non-negative"},
		{"count decimal", "9.0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18", landmark.Points{}, ErrMalformed, `"9.0"`},
		{"missing coordinate", "9 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 ", landmark.Points{}, ErrMalformed, "17 coordinates"},
		{"extra token", "9 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 ", landmark.Points{}, ErrMalformed, "extra"},
		{"word instead of number", "9 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 x ", landmark.Points{}, ErrMalformed, `y of point 9 is "x"`},
		{"NaN", "9 NaN 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18", landmark.Points{}, ErrMalformed, "x of point 1"},
		{"Inf", "9 1 Inf 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18", landmark.Points{}, ErrMalformed, "y of point 1"},
		{"overflow", "9 1 2 1e999 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18", landmark.Points{}, ErrMalformed, "x of point 2"},
		{"hex", "9 1 2 3 0x10 5 6 7 8 9 10 11 12 13 14 15 16 17 18", landmark.Points{}, ErrMalformed, "y of point 2"},
		{"comma decimal", "9 1,5 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18", landmark.Points{}, ErrMalformed, `"1,5"`},
		{"lone dot", "9 . 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18", landmark.Points{}, ErrMalformed, "x of point 1"},
		{"dangling exponent", "9 1e 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18", landmark.Points{}, ErrMalformed, "x of point 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseCat([]byte(c.in))
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("error %v, want %v", err, c.wantErr)
				}
				if !strings.Contains(err.Error(), c.errText) {
					t.Fatalf("error %q does not say %q", err, c.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestFormatCat(t *testing.T) {
	p := pts(175, 160, 239, 162, -3, 410, 0.5, 1.25, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
	want := "9 175 160 239 162 -3 410 0.5 1.25 4 5 6 7 8 9 10 11 12 13 "
	if got := string(FormatCat(p)); got != want {
		t.Errorf("FormatCat = %q, want %q", got, want)
	}
}

// roundTrip parses every .cat in dir and checks that FormatCat gives back the file's text (the
// dataset writes whole numbers with a trailing space, which FormatCat reproduces exactly). It
// returns the number of annotations and of negative coordinates.
func roundTrip(t *testing.T, dir string) (files, negative int) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.jpg.cat"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no annotations in %s: %v", dir, err)
	}
	for _, f := range names {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseCat(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, q := range p {
			if q.X < 0 || q.Y < 0 {
				negative++
			}
		}
		if got := strings.TrimRight(string(data), "\r\n"); string(FormatCat(p)) != got {
			t.Fatalf("%s: FormatCat gives %q, file has %q", f, FormatCat(p), got)
		}
	}
	return len(names), negative
}

// TestFixtureAnnotations round-trips the committed fixture's annotations: the fixture writes
// them in the dataset's format.
func TestFixtureAnnotations(t *testing.T) {
	if n, _ := roundTrip(t, fixture.Dir(t)); n != fixture.Count {
		t.Errorf("%d fixture annotations, want %d", n, fixture.Count)
	}
}

func FuzzParseCat(f *testing.F) {
	for _, s := range []string{
		"9 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 ",
		"9 175.5 -160 239 162 -3 -0.5 1e3 2E-1 +4 5 6 7 8 9 10 11 12 13\n",
		"8 1 2", "", "9 x", "9 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseCat(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrPointCount) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrPointCount", err)
			}
			return
		}
		text := FormatCat(p)
		q, err := ParseCat(text)
		if err != nil {
			t.Fatalf("ParseCat(FormatCat(%v)) = %q fails: %v", p, text, err)
		}
		if q != p {
			t.Fatalf("round trip changed %v to %v via %q", p, q, text)
		}
		if string(FormatCat(q)) != string(text) {
			t.Fatalf("FormatCat is not stable: %q then %q", text, FormatCat(q))
		}
	})
}

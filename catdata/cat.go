package catdata

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/catmark/catmark/landmark"
)

// Errors that ParseCat wraps: a file that does not follow the format, and one that follows it
// but declares other than landmark.N points.
var (
	ErrMalformed  = errors.New("malformed annotation")
	ErrPointCount = errors.New("wrong point count")
)

// ParseCat parses a .cat annotation: "9 x1 y1 x2 y2 … x9 y9", whitespace separated (the
// dataset writes a trailing space, sometimes a newline). Coordinates are pixels with the origin
// at the image's top-left corner, integer or decimal, and are kept as they are: negative values
// and values beyond the frame are valid (an ear that leaves the picture). Errors wrap
// ErrPointCount when the count is not 9 and ErrMalformed for anything else (a non-number, a
// missing or extra coordinate), and say which token is wrong.
func ParseCat(data []byte) (landmark.Points, error) {
	var p landmark.Points
	s := strings.TrimPrefix(string(data), "\ufeff")
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return p, fmt.Errorf("%w: empty", ErrMalformed)
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n < 0 {
		return p, fmt.Errorf("%w: point count %s is not a non-negative integer", ErrMalformed, quote(fields[0]))
	}
	coords := fields[1:]
	if n != landmark.N {
		return p, fmt.Errorf("%w: %d points declared (with %d coordinates), want %d", ErrPointCount, n, len(coords), landmark.N)
	}
	if len(coords) != landmark.Dim {
		what := "missing"
		if len(coords) > landmark.Dim {
			what = "extra"
		}
		return p, fmt.Errorf("%w: %d coordinates after the count, want %d (%s values)", ErrMalformed, len(coords), landmark.Dim, what)
	}
	for i, tok := range coords {
		v, ok := parseNumber(tok)
		if !ok {
			axis := "x"
			if i%2 == 1 {
				axis = "y"
			}
			return p, fmt.Errorf("%w: %s of point %d is %s, not a number", ErrMalformed, axis, i/2+1, quote(tok))
		}
		if i%2 == 0 {
			p[i/2].X = v
		} else {
			p[i/2].Y = v
		}
	}
	return p, nil
}

// parseNumber accepts a finite decimal number: an optional sign, digits with an optional
// fraction, an optional exponent. It refuses what strconv.ParseFloat would also take but a
// .cat file never holds: hexadecimal, underscores, Inf and NaN.
func parseNumber(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

// quote shows a token in an error, shortened when long.
func quote(s string) string {
	if len(s) > 24 {
		s = s[:24] + "…"
	}
	return strconv.Quote(s)
}

// FormatCat writes p in the .cat format: "9 x1 y1 … x9 y9 " with a trailing space, as the
// dataset does. Whole numbers are written without a fraction; others with the fewest digits
// that parse back to the same value, so ParseCat(FormatCat(p)) == p.
func FormatCat(p landmark.Points) []byte {
	b := make([]byte, 0, 96)
	b = strconv.AppendInt(b, landmark.N, 10)
	b = append(b, ' ')
	for _, q := range p {
		b = strconv.AppendFloat(b, q.X, 'f', -1, 64)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, q.Y, 'f', -1, 64)
		b = append(b, ' ')
	}
	return b
}

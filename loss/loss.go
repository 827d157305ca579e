// Package loss provides catmark's training losses on landmark vectors and composes them by name.
//
// A sample's prediction p and truth t are flat vectors of landmark.Dim = 18 normalised
// coordinates, (x0, y0, …, x8, y8); point i is (y[2i], y[2i+1]). A batch is B samples stored one
// after another, B×18 float32 values in row-major order.
//
// Every term is computed per sample; a composite loss is the weighted sum of its terms per sample;
// the loss of a batch is the mean of the per-sample losses. This is how the seed's Keras code
// weighted them (each Keras loss returns one value per sample and Keras averages over the batch).
//
// The terms, by the name Parse accepts (see the project's SPEC.md, section "Losses"):
//
//	mse        DDMSE(0): mean over the 18 values of (p−t)²
//	ddmse:K    DDMSE(K), K = 1…8: mean over the 2·(9−K) values of ((p[j+K]−p[j]) − (t[j+K]−t[j]))²,
//	           for points j = 0…8−K and both axes
//	ddmse:A-B  DDMSE(A) + … + DDMSE(B), 1 ≤ A ≤ B ≤ 8, each its own mean (the seed's "Σ DDMSE(1…8)")
//	triangle   Σ over the 84 triples a<b<c of points of |S(t) − S(p)|, S = |(b−a)×(c−a)|/2 (a sum)
//	area       the ear-box hinge: per ear (landmark.Ears), the box of the true points; each predicted
//	           ear point pays its distance outside the box along x plus along y; mean over the ear's
//	           3 points; the two ears added
//	l1         mean over the 18 values of |p−t|
//	wing       mean over the 18 values of wing(p−t) (Feng et al., CVPR 2018); wing:W,EPS sets the
//	           parameters, see Wing
//
// Terms are joined with "+"; each may carry a weight prefix, "0.5*triangle". The seed's cases are
// in Seed.
//
// Gradients are exact where the loss is differentiable. At kinks (|·| at 0 in l1, triangle and wing,
// a hinge at its boundary in area) the subgradient 0 is used, so every loss has zero gradient at
// p = t.
package loss

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/catmark/catmark/landmark"
)

// Vec is one sample's flat landmark vector (x0, y0, …, x8, y8), in float64 for the arithmetic.
type Vec = [landmark.Dim]float64

// Term is one named part of a loss, evaluated on one sample.
type Term interface {
	// Name is the term's canonical name, as Parse accepts it: "mse", "ddmse:1-8", "wing:0.1,0.02".
	Name() string
	// Sample returns the term's value for prediction p and truth t and, when grad is non-nil, adds
	// scale × ∂value/∂p to grad.
	Sample(p, t, grad *Vec, scale float64) float64
}

// Weighted is a term with its weight in a composite loss.
type Weighted struct {
	Weight float64
	Term   Term
}

// Loss is a weighted sum of terms. Its zero value has no terms and is 0 everywhere.
type Loss struct {
	terms []Weighted
}

// Seed lists the losses of the seed's seven cases: cases 1 and 2 (MSE, 200 and 400 epochs) use
// Seed[0]; case 3 Seed[1]; case 4 Seed[2]; case 5 Seed[3]; cases 6 and 7 (7 adds PCA colour
// augmentation) Seed[4].
var Seed = [...]string{
	"mse",
	"mse+ddmse:1",
	"mse+ddmse:1-8",
	"mse+ddmse:1-8+triangle",
	"mse+ddmse:1-8+area",
}

// New returns the loss Σ weight·term.
func New(terms ...Weighted) *Loss {
	return &Loss{terms: append([]Weighted(nil), terms...)}
}

// Terms returns the loss's weighted terms in order; callers must not modify the slice.
func (l *Loss) Terms() []Weighted { return l.terms }

// String returns the canonical name of the loss, which Parse turns back into the same loss:
// terms joined by "+", weights other than 1 written as a prefix "W*".
func (l *Loss) String() string {
	parts := make([]string, len(l.terms))
	for i, wt := range l.terms {
		parts[i] = wt.Term.Name()
		if wt.Weight != 1 {
			parts[i] = formatFloat(wt.Weight) + "*" + parts[i]
		}
	}
	return strings.Join(parts, "+")
}

// Sample returns the loss of one sample and, when grad is non-nil, adds scale × ∂loss/∂p to grad.
func (l *Loss) Sample(p, t, grad *Vec, scale float64) float64 {
	var v float64
	for _, wt := range l.terms {
		v += wt.Weight * wt.Term.Sample(p, t, grad, scale*wt.Weight)
	}
	return v
}

// Eval returns the batch loss, the mean over the B samples of pred and truth (each B×18,
// row-major) of the per-sample loss. When grad is non-nil (length B×18) it is overwritten with the
// gradient of that mean with respect to pred. The arithmetic is float64. An empty batch has loss 0.
// Eval panics when the lengths disagree or are not a multiple of 18.
func (l *Loss) Eval(pred, truth, grad []float32) float64 {
	const d = landmark.Dim
	if len(pred) != len(truth) || len(pred)%d != 0 {
		panic(fmt.Sprintf("loss: Eval: pred has %d values and truth %d; want equal multiples of %d", len(pred), len(truth), d))
	}
	if grad != nil && len(grad) != len(pred) {
		panic(fmt.Sprintf("loss: Eval: grad has %d values, want %d (as pred)", len(grad), len(pred)))
	}
	b := len(pred) / d
	if b == 0 {
		return 0
	}
	scale := 1 / float64(b)
	var sum float64
	for s := 0; s < b; s++ {
		var gs []float32
		if grad != nil {
			gs = grad[s*d : (s+1)*d]
		}
		sum += l.sample32(pred[s*d:(s+1)*d], truth[s*d:(s+1)*d], gs, scale)
	}
	return sum * scale
}

// sample32 is Sample for one sample held in float32 (p and t: 18 values each); when g is
// non-nil, it is overwritten with scale × ∂loss/∂p.
func (l *Loss) sample32(p32, t32, g32 []float32, scale float64) float64 {
	var p, t Vec
	for i := range landmark.Dim {
		p[i], t[i] = float64(p32[i]), float64(t32[i])
	}
	if g32 == nil {
		return l.Sample(&p, &t, nil, 0)
	}
	var g Vec
	v := l.Sample(&p, &t, &g, scale)
	for i := range landmark.Dim {
		g32[i] = float32(g[i])
	}
	return v
}

// Parse builds a loss from its name: terms joined by "+", each one of "mse", "ddmse:K",
// "ddmse:A-B", "triangle", "area", "l1", "wing" or "wing:W,EPS", optionally prefixed by a positive
// weight and "*" ("0.5*triangle"). Spaces around terms and case are ignored. Errors name the bad term.
func Parse(name string) (*Loss, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("loss: empty loss name")
	}
	var l Loss
	for i, raw := range strings.Split(name, "+") {
		s := strings.ToLower(strings.TrimSpace(raw))
		if s == "" {
			return nil, fmt.Errorf("loss: %q: term %d is empty", name, i+1)
		}
		w := 1.0
		if ws, rest, ok := strings.Cut(s, "*"); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(ws), 64)
			if err != nil || !(v > 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("loss: %q: term %q: weight %q is not a positive finite number", name, s, ws)
			}
			w, s = v, strings.TrimSpace(rest)
		}
		t, err := parseTerm(s)
		if err != nil {
			return nil, fmt.Errorf("loss: %q: term %q: %v", name, strings.TrimSpace(raw), err)
		}
		l.terms = append(l.terms, Weighted{w, t})
	}
	return &l, nil
}

// MustParse is Parse that panics on an error; for names fixed in code.
func MustParse(name string) *Loss {
	l, err := Parse(name)
	if err != nil {
		panic(err)
	}
	return l
}

func parseTerm(s string) (Term, error) {
	base, arg, hasArg := strings.Cut(s, ":")
	noArg := func(t Term) (Term, error) {
		if hasArg {
			return nil, fmt.Errorf("%s takes no parameters", base)
		}
		return t, nil
	}
	switch base {
	case "mse":
		return noArg(MSE())
	case "triangle":
		return noArg(Triangle())
	case "area":
		return noArg(Area())
	case "l1":
		return noArg(L1())
	case "ddmse":
		if !hasArg {
			return nil, fmt.Errorf("ddmse needs an order: ddmse:K or ddmse:A-B with 1 ≤ A ≤ B ≤ 8")
		}
		as, bs, isRange := strings.Cut(arg, "-")
		a, errA := strconv.Atoi(as)
		b := a
		var errB error
		if isRange {
			b, errB = strconv.Atoi(bs)
		}
		if errA != nil || errB != nil {
			return nil, fmt.Errorf("order %q is not K or A-B with integers 1…8", arg)
		}
		if a < 1 || b > landmark.N-1 || a > b {
			return nil, fmt.Errorf("order %q out of range: want 1 ≤ A ≤ B ≤ 8 (DDMSE(0) is mse)", arg)
		}
		return DDMSE(a, b), nil
	case "wing":
		if !hasArg {
			return Wing(WingW, WingEps), nil
		}
		ws, es, ok := strings.Cut(arg, ",")
		if !ok {
			return nil, fmt.Errorf("parameters %q are not W,EPS", arg)
		}
		w, err1 := strconv.ParseFloat(strings.TrimSpace(ws), 64)
		e, err2 := strconv.ParseFloat(strings.TrimSpace(es), 64)
		if err1 != nil || err2 != nil || !(w > 0) || !(e > 0) || math.IsInf(w, 0) || math.IsInf(e, 0) {
			return nil, fmt.Errorf("parameters %q: W and EPS must be positive finite numbers", arg)
		}
		return Wing(w, e), nil
	}
	return nil, fmt.Errorf("unknown term %q (want mse, ddmse:K, ddmse:A-B, triangle, area, l1 or wing)", base)
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

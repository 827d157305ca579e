package study

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/catmark/catmark/render"
	"github.com/catmark/catmark/train"
)

// Curve is one run's metrics log (train.ReadLog) under a label.
type Curve struct {
	Label string
	Log   []train.EpochLog
}

// dpi is the resolution of the charts: sizes are given in pixels.
const dpi = 96

// PlotTraining writes a w×h-pixel PNG of training curves to path: on the left the training loss
// (solid) and the validation loss (dashed) per epoch on a logarithmic axis, on the right the
// validation NME per epoch. Each run has its own colour.
func PlotTraining(path string, runs []Curve, w, h int) error {
	if err := check(runs, w, h); err != nil {
		return err
	}
	loss := panel{title: "loss", ylabel: "loss (log)", log: true}
	nme := panel{title: "validation NME", ylabel: "NME"}
	for i, r := range runs {
		tl, vl, vn := label(r.Label, "train", len(runs)), label(r.Label, "val", len(runs)), r.Label
		vc := i
		if len(runs) == 1 {
			tl, vl, vn, vc = "train loss", "val loss", "val NME", 1
		}
		loss.series = append(loss.series,
			series{tl, column(r.Log, func(e train.EpochLog) float64 { return e.TrainLoss }), i, false},
			series{vl, column(r.Log, func(e train.EpochLog) float64 { return e.ValLoss }), vc, true})
		nme.series = append(nme.series, series{vn, column(r.Log, func(e train.EpochLog) float64 { return e.ValNME }), i, false})
	}
	return draw2(path, w, h, loss, nme)
}

// PlotStudy writes a w×h-pixel PNG comparing runs, as the seed's figure does: on the left the
// validation MSE (the seed's metric) per epoch of every run on a logarithmic axis, on the right
// the validation NME per epoch, also logarithmic.
func PlotStudy(path string, runs []Curve, w, h int) error {
	if err := check(runs, w, h); err != nil {
		return err
	}
	mse := panel{title: "validation MSE (the seed's metric)", ylabel: "MSE (log)", log: true}
	nme := panel{title: "validation NME", ylabel: "NME (log)", log: true}
	for i, r := range runs {
		mse.series = append(mse.series, series{r.Label, column(r.Log, func(e train.EpochLog) float64 { return e.ValMSE }), i, false})
		nme.series = append(nme.series, series{r.Label, column(r.Log, func(e train.EpochLog) float64 { return e.ValNME }), i, false})
	}
	return draw2(path, w, h, mse, nme)
}

// PlotStudyTime is PlotStudy against training time (minutes) instead of epochs: what each loss
// gives for the same compute.
func PlotStudyTime(path string, runs []Curve, w, h int) error {
	if err := check(runs, w, h); err != nil {
		return err
	}
	mse := panel{title: "validation MSE against training time", ylabel: "MSE (log)", xlabel: "minutes trained", log: true}
	nme := panel{title: "validation NME against training time", ylabel: "NME (log)", xlabel: "minutes trained", log: true}
	minutes := func(e train.EpochLog) float64 { return e.Elapsed / 60 }
	for i, r := range runs {
		mse.series = append(mse.series, series{r.Label, columnX(r.Log, minutes, func(e train.EpochLog) float64 { return e.ValMSE }), i, false})
		nme.series = append(nme.series, series{r.Label, columnX(r.Log, minutes, func(e train.EpochLog) float64 { return e.ValNME }), i, false})
	}
	return draw2(path, w, h, mse, nme)
}

func check(runs []Curve, w, h int) error {
	if w < 200 || h < 150 {
		return fmt.Errorf("study: chart size %d×%d is below 200×150 pixels", w, h)
	}
	if len(runs) == 0 {
		return fmt.Errorf("study: no runs to plot")
	}
	for _, r := range runs {
		if len(r.Log) == 0 {
			return fmt.Errorf("study: run %s has no finished epoch to plot", r.Label)
		}
	}
	return nil
}

func label(run, what string, n int) string {
	if n == 1 {
		return what
	}
	return run + " " + what
}

// column returns the (epoch, value) points of one figure of a log.
func column(log []train.EpochLog, f func(train.EpochLog) float64) plotter.XYs {
	return columnX(log, func(e train.EpochLog) float64 { return float64(e.Epoch) }, f)
}

// columnX returns the (x, value) points of one figure of a log, leaving out epochs without
// the figure (validation figures of epochs not validated).
func columnX(log []train.EpochLog, x, f func(train.EpochLog) float64) plotter.XYs {
	xy := make(plotter.XYs, 0, len(log))
	for _, e := range log {
		if y := f(e); !math.IsNaN(y) {
			xy = append(xy, plotter.XY{X: x(e), Y: y})
		}
	}
	return xy
}

type series struct {
	label  string
	xy     plotter.XYs
	colour int // index into plotutil's palette
	dashed bool
}

type panel struct {
	title, ylabel string
	xlabel        string // "" means "epoch"
	log           bool
	series        []series
}

// plot builds the panel for a picture h pixels high; a logarithmic panel leaves out values that
// are not positive. The top of the panel is kept free of data for the legend.
func (pn panel) plot(h int) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = pn.title
	p.X.Label.Text = "epoch"
	if pn.xlabel != "" {
		p.X.Label.Text = pn.xlabel
	}
	p.Y.Label.Text = pn.ylabel
	p.Legend.Top = true
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	entries := 0
	for _, s := range pn.series {
		var xy plotter.XYs
		for _, q := range s.xy {
			if math.IsNaN(q.Y) || math.IsInf(q.Y, 0) || (pn.log && q.Y <= 0) {
				continue
			}
			xy = append(xy, q)
			xmin, xmax = math.Min(xmin, q.X), math.Max(xmax, q.X)
			ymin, ymax = math.Min(ymin, q.Y), math.Max(ymax, q.Y)
		}
		if len(xy) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		c := plotutil.Color(s.colour)
		l.Color = c
		l.Width = vg.Points(1.5)
		if s.dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l)
		thumb := plot.Thumbnailer(l)
		if len(xy) <= 30 {
			pts.Color = c
			pts.Shape = draw.CircleGlyph{}
			pts.Radius = vg.Points(2)
			p.Add(pts)
			thumb = lineAndPoints{l, pts}
		}
		p.Legend.Add(s.label, thumb)
		entries++
	}
	if math.IsInf(ymin, 0) {
		return nil, fmt.Errorf("study: %s: no value to plot", pn.title)
	}
	if xmin == xmax {
		xmin, xmax = xmin-0.5, xmax+0.5
	}
	p.X.Min, p.X.Max = xmin, xmax
	p.X.Tick.Marker = epochTicks{}
	// The share of the plot's height the legend takes: rows of about 19 pixels in a plot area
	// about 90 pixels shorter than the picture.
	legend := math.Min(0.6, float64(19*entries+12)/float64(max(h-90, 60)))
	if pn.log {
		if ymin == ymax {
			ymin, ymax = ymin/1.5, ymax*1.5
		}
		f := math.Pow(ymax/ymin, 0.04)
		ymin, ymax = ymin/f, ymax*f
		ymax = ymin * math.Pow(ymax/ymin, 1/(1-legend))
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	} else {
		pad := (ymax - ymin) * 0.05
		if pad == 0 {
			pad = math.Max(math.Abs(ymin)*0.1, 0.01)
		}
		ymin, ymax = math.Max(0, ymin-pad), ymax+pad
		ymax = ymin + (ymax-ymin)/(1-legend)
	}
	p.Y.Min, p.Y.Max = ymin, ymax
	p.Add(plotter.NewGrid())
	return p, nil
}

type lineAndPoints struct {
	l *plotter.Line
	s *plotter.Scatter
}

func (t lineAndPoints) Thumbnail(c *draw.Canvas) {
	t.l.Thumbnail(c)
	t.s.Thumbnail(c)
}

// draw2 draws two panels side by side into a w×h-pixel PNG at path.
func draw2(path string, w, h int, left, right panel) error {
	var row []*plot.Plot
	for _, pn := range []panel{left, right} {
		p, err := pn.plot(h)
		if err != nil {
			return err
		}
		row = append(row, p)
	}
	c := vgimg.NewWith(vgimg.UseWH(vg.Length(w)*vg.Inch/dpi, vg.Length(h)*vg.Inch/dpi), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(16), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(10)}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, dc)
	for i, p := range row {
		p.Draw(canvases[0][i])
	}
	return render.SavePNG(path, c.Image())
}

// epochTicks marks whole epochs: about eight labelled ones at a step of 1, 2 or 5 times a power
// of ten.
type epochTicks struct{}

func (epochTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 1.0
	for _, m := range []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000} {
		step = m
		if (hi-lo)/m <= 8 {
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return ticks
}

// logTicks marks a logarithmic axis at the whole multiples of the powers of ten: every decade
// labelled, 2 and 5 times it as well when the range spans fewer than three decades, every tick
// when it spans less than one; the others are unlabelled minor ticks. A
// range too narrow for two labels has every tick labelled, and its ends.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	span := math.Log10(hi / lo)
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		d := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * d
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || span < 1 || (span < 3 && (m == 2 || m == 5)) {
				t.Label = strconv.FormatFloat(v, 'g', 3, 64)
			}
			ticks = append(ticks, t)
		}
	}
	labelled := 0
	for _, t := range ticks {
		if t.Label != "" {
			labelled++
		}
	}
	if labelled < 2 {
		// A narrow range: label every tick, and its ends when it holds fewer than two.
		for i := range ticks {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', 3, 64)
		}
		if len(ticks) < 2 {
			ticks = append(ticks, plot.Tick{Value: lo, Label: strconv.FormatFloat(lo, 'g', 3, 64)}, plot.Tick{Value: hi, Label: strconv.FormatFloat(hi, 'g', 3, 64)})
		}
	}
	return ticks
}

package catmark

import (
	"github.com/catmark/catmark/augment"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/internal/par"
	"github.com/catmark/catmark/landmark"
	"github.com/catmark/catmark/model"
)

// predict runs m on imgs in one batch and returns each one's points normalised to it and face
// presence (NaN without a presence output), averaged with the mirrored input's prediction when
// flip (the mirrored copies run in the same batch).
func (d *Detector) predict(m *model.Model, imgs []*imgproc.RGB, flip bool) []model.Output {
	out, mirrored := d.predictPair(m, imgs, flip)
	if flip {
		for i := range out {
			p := landmark.Mean(out[i].Points, mirrored[i].Points.FlipNormalized())
			out[i] = model.Output{Points: p, Presence: (out[i].Presence + mirrored[i].Presence) / 2}
		}
	}
	return out
}

// predictPair runs m on imgs and, when flip, on their mirror images, all in one batch, and
// returns both predictions as m gives them (the mirrored ones in the mirrored inputs'
// coordinates; nil without flip).
func (d *Detector) predictPair(m *model.Model, imgs []*imgproc.RGB, flip bool) (plain, mirrored []model.Output) {
	s, n := m.Spec.Size, len(imgs)
	copies := 1
	if flip {
		copies = 2
	}
	x := make([]float32, copies*n*3*s*s)
	par.For(n, func(i int) {
		img := imgs[i]
		small := img
		if img.W != s || img.H != s {
			small = img.Resize(s, s)
		}
		m.Spec.Input(small, x[i*3*s*s:])
		if flip {
			m2 := small.Clone()
			augment.FlipImage(m2)
			m.Spec.Input(m2, x[(n+i)*3*s*s:])
		}
	})
	out := m.Predict(x, copies*n)
	if flip {
		return out[:n], out[n:]
	}
	return out, nil
}

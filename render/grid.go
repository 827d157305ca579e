package render

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"

	"github.com/catmark/catmark/internal/atomicfile"
)

// Grid layout constants.
const (
	gridPad    = 4 // pixels between cells and around the grid
	captionPad = 2 // pixels above and below a caption
)

var (
	gridBackground = color.RGBA{24, 24, 24, 255}
	captionColor   = color.RGBA{235, 235, 235, 255}
)

// Grid lays tiles out in rows of cols cells, each as wide as the widest tile and as tall as the
// tallest, with captions[i] (if given and not empty) under tile i. Tiles are centred across their
// cells and stand on the caption line.
// cols < 1 means one row. Captions too wide for a cell are cut.
func Grid(tiles []image.Image, cols int, captions []string) *image.RGBA {
	if len(tiles) == 0 {
		return image.NewRGBA(image.Rect(0, 0, 0, 0))
	}
	if cols < 1 || cols > len(tiles) {
		cols = len(tiles)
	}
	rows := (len(tiles) + cols - 1) / cols
	cw, ch := 0, 0
	for _, t := range tiles {
		cw, ch = max(cw, t.Bounds().Dx()), max(ch, t.Bounds().Dy())
	}
	capH := 0
	for _, c := range captions {
		if c != "" {
			_, capH = TextSize(c, 1)
			capH += 2 * captionPad
			break
		}
	}
	W := cols*(cw+gridPad) + gridPad
	H := rows*(ch+capH+gridPad) + gridPad
	out := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(out, out.Bounds(), image.NewUniform(gridBackground), image.Point{}, draw.Src)
	for i, t := range tiles {
		cx := gridPad + (i%cols)*(cw+gridPad)
		cy := gridPad + (i/cols)*(ch+capH+gridPad)
		b := t.Bounds()
		at := image.Pt(cx+(cw-b.Dx())/2, cy+ch-b.Dy())
		draw.Draw(out, image.Rectangle{at, at.Add(b.Size())}, t, b.Min, draw.Src)
		if i < len(captions) && captions[i] != "" {
			s := captions[i]
			for len(s) > 1 {
				if w, _ := TextSize(s, 1); w <= cw {
					break
				}
				s = s[:len(s)-1]
			}
			cell := out.SubImage(image.Rect(cx, cy+ch, cx+cw, cy+ch+capH)).(*image.RGBA)
			Text(cell, cx, cy+ch+captionPad, s, captionColor, 1)
		}
	}
	return out
}

// SavePNG writes img to path as PNG atomically: it writes a temporary file beside path and
// renames it, so that path never holds a partial picture.
func SavePNG(path string, img image.Image) error {
	if err := atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return nil
}

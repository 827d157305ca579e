package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/render"
	"github.com/catmark/catmark/server"
)

func init() {
	register("predict", "find the landmarks on photos (files, folders, or - for stdin)", runPredict)
}

func runPredict(args []string) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: catmark predict [--json] [--draw DIR] [--model M] PHOTO|FOLDER|- ...")
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print one JSON object per photo (JSON lines)")
	draw := fs.String("draw", "", "write each photo with its landmarks drawn to this folder (PNG)")
	model := fs.String("model", "", "model folder or checkpoint (default: the shipped model)")
	tune := addDetectorFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("no photos given")
	}
	det, err := catmark.Load(*model)
	if err != nil {
		return err
	}
	if err := tune.apply(det); err != nil {
		return err
	}
	if *draw != "" {
		if err := os.MkdirAll(*draw, 0o755); err != nil {
			return err
		}
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	failed := 0
	for _, arg := range fs.Args() {
		for _, path := range expandPhotos(arg) {
			if err := predictOne(det, path, *asJSON, *draw, out); err != nil {
				fmt.Fprintf(os.Stderr, "catmark predict: %v\n", err)
				failed++
			}
			out.Flush()
		}
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "catmark predict: %d photo(s) failed\n", failed)
		return errSilent
	}
	return nil
}

// expandPhotos turns a folder into the photos under it (JPEG and PNG, sorted) and keeps files
// and "-" as they are.
func expandPhotos(arg string) []string {
	st, err := os.Stat(arg)
	if arg == "-" || err != nil || !st.IsDir() {
		return []string{arg}
	}
	var out []string
	filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			switch strings.ToLower(filepath.Ext(p)) {
			case ".jpg", ".jpeg", ".png":
				out = append(out, p)
			}
		}
		return nil
	})
	return out
}

func predictOne(det *catmark.Detector, path string, asJSON bool, drawDir string, out io.Writer) error {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	img, _, err := imgproc.Decode(r)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	found := detection(det.DetectFaceRGB(img))
	pts := found.Points
	res := server.NewResult(path, img.W, img.H, found)
	if asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(out, "%s\n", b)
	} else {
		fmt.Fprintf(out, "%s (%d×%d)", path, img.W, img.H)
		if res.Face != nil {
			fmt.Fprintf(out, ", face %.2f", *res.Face)
		}
		fmt.Fprintln(out)
		for _, p := range res.Points {
			fmt.Fprintf(out, "  %-22s %7.1f %7.1f\n", p.Name, p.X, p.Y)
		}
	}
	if drawDir != "" {
		name := "stdin"
		if path != "-" {
			name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
		pic := render.Draw(img.Image(), nil, &pts, render.Options{})
		if err := render.SavePNG(filepath.Join(drawDir, name+".png"), pic); err != nil {
			return err
		}
	}
	return nil
}

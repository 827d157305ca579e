package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/catmark/catmark"
	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/render"
)

func init() {
	register("predict", "find the landmarks on photos (files, folders, or - for stdin)", runPredict)
}

// predictLimits are the limits of catmark serve (imgproc.DefaultLimits) and the detector's
// smallest photo.
var predictLimits = func() imgproc.Limits {
	l := imgproc.DefaultLimits
	l.MinSide = catmark.MinSide
	return l
}()

func runPredict(args []string) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: catmark predict [--json] [--draw DIR] [--model M] PHOTO|FOLDER|- ...\n\nFlags may come before or after the photos; -- ends the flags (for a photo named -x.jpg).")
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print one JSON object per photo (JSON lines)")
	draw := fs.String("draw", "", "write each photo with its landmarks drawn to this folder (PNG)")
	model := fs.String("model", "", "model folder or checkpoint (default: the shipped model)")
	batchSize := fs.Int("batch", 8, "photos detected together: each stage runs its model on all of them at once (1: one by one)")
	tune := addDetectorFlags(fs)
	oriented := addOrientationFlag(fs)
	args, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *batchSize < 1 || *batchSize > 256 {
		return fmt.Errorf("--batch %d out of range [1, 256]", *batchSize)
	}
	if len(args) == 0 {
		fs.Usage()
		return fmt.Errorf("no photos given")
	}
	det, err := tune.load(*model)
	if err != nil {
		return err
	}
	var paths []string
	failed := 0 // photos and folders that could not be read or measured
	for _, arg := range args {
		found, errs := expandPhotos(arg)
		for _, err := range errs {
			fmt.Fprintf(os.Stderr, "catmark predict: %v\n", err)
		}
		failed += len(errs)
		paths = append(paths, found...)
	}
	var drawn []string
	if *draw != "" {
		if err := os.MkdirAll(*draw, 0o755); err != nil {
			return err
		}
		drawn = drawNames(paths)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	lim := predictLimits
	lim.IgnoreOrientation = !*oriented
	var batch []*photoJob
	var pixels int
	flush := func() {
		failed += predictBatch(det, batch, *asJSON, out)
		out.Flush()
		batch, pixels = batch[:0], 0
	}
	// Photos are read and decoded one batch ahead, on their own goroutine, while the detector
	// works on the batch before.
	jobs := make(chan *photoJob, *batchSize)
	go func() {
		defer close(jobs)
		for i, path := range paths {
			pic := ""
			if drawn != nil {
				pic = filepath.Join(*draw, drawn[i])
				if plain := stem(path) + ".png"; drawn[i] != plain {
					fmt.Fprintf(os.Stderr, "catmark predict: %s is drawn to %s: another photo is called %s\n", path, pic, plain)
				}
			}
			jobs <- loadPhoto(lim, path, pic)
		}
	}()
	for job := range jobs {
		batch = append(batch, job)
		pixels += job.h.Width * job.h.Height
		if len(batch) == *batchSize || pixels >= maxBatchPixels {
			flush()
		}
	}
	flush()
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "catmark predict: %d photo(s) or folder(s) failed\n", failed)
		return errSilent
	}
	return nil
}

// maxBatchPixels bounds the decoded photos predict holds at once (about 400 MB of RGBA).
const maxBatchPixels = 100 << 20

// parseInterleaved parses args with fs, flags and positional arguments in any order, and
// returns the positional ones in order; everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// stem is the name a photo's picture gets by default: its file name without the extension,
// "stdin" for -.
func stem(path string) string {
	if path == "-" {
		return "stdin"
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// drawNames gives each photo's picture a file name of its own: its stem with ".png", or, for
// a photo whose stem an earlier one has (a/cat.jpg, b/cat.jpg; cat.jpg, cat.png), the stem with
// "-2", "-3", … added, skipping any stem a photo has. Names are compared without case, as a
// case-insensitive file system would. The names depend only on the order of paths.
func drawNames(paths []string) []string {
	taken := map[string]bool{} // every photo's own stem, lower case
	for _, p := range paths {
		taken[strings.ToLower(stem(p))] = true
	}
	claimed := map[string]bool{}
	names := make([]string, len(paths))
	for i, p := range paths {
		s := stem(p)
		name := s
		if claimed[strings.ToLower(s)] {
			for n := 2; ; n++ {
				name = s + "-" + strconv.Itoa(n)
				if !taken[strings.ToLower(name)] {
					break
				}
			}
			taken[strings.ToLower(name)] = true
		}
		claimed[strings.ToLower(name)] = true
		names[i] = name + ".png"
	}
	return names
}

// expandPhotos turns a folder into the photos under it (JPEG and PNG, sorted) and keeps files
// and "-" as they are. Entries that are not regular files are kept too, for loadPhoto to report.
// A folder under it that cannot be read is an error naming it, and the walk goes on past it.
func expandPhotos(arg string) ([]string, []error) {
	st, err := os.Stat(arg)
	if arg == "-" || err != nil || !st.IsDir() {
		return []string{arg}, nil
	}
	return walkPhotos(os.DirFS(arg), arg)
}

// walkPhotos returns the photos in fsys (JPEG and PNG, sorted), named as in the folder root
// that fsys shows, and an error for each folder it could not read.
func walkPhotos(fsys fs.FS, root string) (paths []string, errs []error) {
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		name := filepath.Join(root, filepath.FromSlash(p))
		if err != nil {
			if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
				err = pe.Err // the path is name
			}
			errs = append(errs, fmt.Errorf("%s: folder not readable: %w; its photos skipped", name, err))
			return nil
		}
		if !d.IsDir() {
			switch strings.ToLower(filepath.Ext(p)) {
			case ".jpg", ".jpeg", ".png":
				paths = append(paths, name)
			}
		}
		return nil
	})
	return paths, errs
}

// photoJob is one photo of a predict run: where it came from, its decoded pixels or why it has
// none, and where its picture goes ("" for none).
type photoJob struct {
	path, pic string
	img       image.Image
	h         imgproc.Header
	err       error
}

// loadPhoto reads and decodes the photo at path ("-": stdin) within lim (predictLimits, the
// limits of catmark serve, and whether to apply the EXIF orientation): a pipe, a device or a file
// over 20 MiB is refused unread, and a photo under catmark.MinSide pixels a side is an error.
func loadPhoto(lim imgproc.Limits, path, pic string) *photoJob {
	job := &photoJob{path: path, pic: pic}
	var data []byte
	if path == "-" {
		if data, job.err = lim.ReadAll(os.Stdin); job.err != nil {
			job.err = fmt.Errorf("stdin: %w", job.err)
			return job
		}
	} else if data, job.err = lim.ReadFile(path); job.err != nil {
		job.err = fmt.Errorf("%w; skipped", job.err)
		return job
	}
	if job.img, job.h, job.err = lim.Decode(context.Background(), data); job.err != nil {
		job.err = fmt.Errorf("%s: %w", path, job.err)
	}
	return job
}

// predictBatch detects the landmarks on the decoded photos of jobs together (Detector.DetectBatch)
// and prints each job's result, or its error on stderr, in order; it returns how many failed.
func predictBatch(det *catmark.Detector, jobs []*photoJob, asJSON bool, out io.Writer) int {
	var imgs []image.Image
	var at []int
	for i, j := range jobs {
		if j.err == nil {
			imgs = append(imgs, j.img)
			at = append(at, i)
		}
	}
	found := make([]catmark.Faces, len(jobs))
	if len(imgs) > 0 {
		dets, err := det.DetectAllBatch(context.Background(), imgs)
		for k, i := range at {
			if err != nil {
				jobs[i].err = err
			} else {
				found[i] = dets[k]
			}
		}
	}
	failed := 0
	for i, j := range jobs {
		err := j.err
		if err == nil && found[i].Err != nil {
			err = fmt.Errorf("%s: %w", j.path, found[i].Err)
		}
		if err == nil {
			err = printPhoto(j, found[i].Faces, asJSON, out)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "catmark predict: %v\n", err)
			failed++
		}
	}
	return failed
}

// predictOne finds the landmarks on the photo at path ("-": stdin) and prints them; with
// drawTo, it also writes the photo with the points drawn there (predictLimits apply, the EXIF
// orientation applied).
func predictOne(det *catmark.Detector, path string, asJSON bool, drawTo string, out io.Writer) error {
	job := loadPhoto(predictLimits, path, drawTo)
	if job.err != nil {
		return job.err
	}
	faces, err := det.DetectAll(job.img)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return printPhoto(job, faces, asJSON, out)
}

// printPhoto prints what was found on a photo, as JSON or as a table, and draws it when the
// job has a picture to write.
func printPhoto(job *photoJob, faces []catmark.Face, asJSON bool, out io.Writer) error {
	res := catmark.NewRecord(job.path, job.h.Width, job.h.Height, faces)
	if asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(out, "%s\n", b)
	} else {
		fmt.Fprintf(out, "%s (%d×%d)", job.path, job.h.Width, job.h.Height)
		if res.Presence != nil {
			fmt.Fprintf(out, ", face %.2f", *res.Presence)
		}
		fmt.Fprintln(out)
		for _, p := range res.Points {
			fmt.Fprintf(out, "  %-22s %7.1f %7.1f\n", p.Name, p.X, p.Y)
		}
		for i, f := range res.Faces[min(1, len(res.Faces)):] {
			fmt.Fprintf(out, "  face %d of %d: presence %.2f, turned %.0f°, box %.0f,%.0f %.0f×%.0f\n", i+2, len(res.Faces), *f.Presence, f.Angle, f.Box.X, f.Box.Y, f.Box.W, f.Box.H)
			for _, p := range f.Points {
				fmt.Fprintf(out, "    %-20s %7.1f %7.1f\n", p.Name, p.X, p.Y)
			}
		}
	}
	if job.pic != "" {
		var pic image.Image = job.img
		for i := range faces { // the best face drawn last, on top
			pts := faces[len(faces)-1-i].Points
			pic = render.Draw(pic, nil, &pts, render.Options{})
		}
		if err := render.SavePNG(job.pic, pic); err != nil {
			return err
		}
	}
	return nil
}

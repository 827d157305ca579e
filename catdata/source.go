// Package catdata reads the Cat Dataset: the .cat annotation format, and sources of photos
// with their annotations, either a folder tree (the CAT_00 … CAT_06 layout, or flat) or zip
// archives read in place.
package catdata

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/catmark/catmark/imgproc"
	"github.com/catmark/catmark/landmark"
)

// Reason is why an entry of a source is bad; summaries group problems by it.
type Reason string

// The reasons an entry is skipped.
const (
	NoAnnotation Reason = "missing annotation"       // a photo without its .cat file
	NoPhoto      Reason = "annotation without photo" // a .cat file without its photo
	Malformed    Reason = "malformed annotation"     // a .cat file that does not parse
	PointCount   Reason = "wrong point count"        // a .cat file with other than 9 points
	Unreadable   Reason = "unreadable"               // a file or archive that cannot be read
	Truncated    Reason = "truncated JPEG"           // JPEG data that ends early
	NotJPEG      Reason = "not a JPEG"               // a .jpg whose content is something else
	CorruptJPEG  Reason = "corrupt JPEG"             // JPEG data that does not decode
	Grey         Reason = "grey image"               // a greyscale JPEG
	CMYK         Reason = "CMYK image"               // a CMYK JPEG
	Duplicate    Reason = "duplicate name"           // a photo whose file name was already seen
	TooLarge     Reason = "too large"                // over imgproc.DefaultLimits: bytes, pixels, decoded memory, scans
	UnsafeName   Reason = "unsafe name"              // a zip member named outside the archive (../x, /x, C:\x)
	NotRegular   Reason = "not a regular file"       // a named pipe, device or socket named like a photo or archive
)

// Reasons lists every Reason in a fixed order, for summaries.
var Reasons = []Reason{NoAnnotation, NoPhoto, Malformed, PointCount, Unreadable, Truncated, NotJPEG, CorruptJPEG, Grey, CMYK, Duplicate, TooLarge, UnsafeName, NotRegular}

// Problem is one bad entry of a source: its name, the reason, and the underlying error.
type Problem struct {
	Name   string
	Reason Reason
	Err    error
}

func (p *Problem) Error() string {
	if p.Err == nil {
		return p.Name + ": " + string(p.Reason)
	}
	return p.Name + ": " + string(p.Reason) + ": " + p.Err.Error()
}

func (p *Problem) Unwrap() error { return p.Err }

// Entry is one photo of a source with its annotation.
type Entry struct {
	// Name is the photo's slash-separated path relative to the folder the source was scanned
	// from, or inside the zip when the source is a zip file. A photo inside a zip found in a
	// folder is named by the zip's path, then its path in the zip ("CAT_00.zip/00000001_000.jpg").
	Name string

	photo, cat file
}

// Base returns the photo's file name without folders, e.g. "00000001_000.jpg".
func (e Entry) Base() string { return path.Base(e.Name) }

// file is a readable file: one on disk (zf nil) or a zip member.
type file struct {
	path string // path on disk
	zf   *zip.File
}

// maxCatSize bounds what Load reads of an annotation; a real one is under 100 bytes.
const maxCatSize = 1 << 16

// maxPhotoSize bounds what Load reads of a photo: the file limit of catmark serve and predict.
var maxPhotoSize = imgproc.DefaultLimits.MaxBytes

// read reads the file, at most limit bytes: a zip member whose declared size is larger is
// refused unread, and every read goes through a limit, whatever the header declared. Errors
// wrap imgproc.ErrTooLarge for a file over the limit and imgproc.ErrNotRegular for a path that
// is no longer a regular file.
func (f file) read(limit int64) ([]byte, error) {
	lim := imgproc.Limits{MaxBytes: limit}
	if f.zf == nil {
		return lim.ReadFile(f.path)
	}
	if f.zf.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%w: the zip member declares %d bytes, over the limit of %d", imgproc.ErrTooLarge, f.zf.UncompressedSize64, limit)
	}
	r, err := f.zf.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return lim.ReadAll(r)
}

// Source is a scanned Cat Dataset: its photos with annotations, sorted by name, and the
// problems found while scanning. Load reads entries; Close releases open zip archives.
// Load may be called from several goroutines at once.
type Source struct {
	Path     string
	Entries  []Entry
	Problems []Problem // found by Scan (orphans, duplicates, unreadable files), sorted by name
	Ignored  int       // files that are neither photos, annotations nor zips (README, …)

	zips []*zip.ReadCloser
}

// Len returns the number of entries.
func (s *Source) Len() int { return len(s.Entries) }

// Close closes the zip archives the source holds open.
func (s *Source) Close() error {
	var first error
	for _, z := range s.zips {
		if err := z.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.zips = nil
	return first
}

// isPhoto reports whether name is a photo file (.jpg or .jpeg, any case).
func isPhoto(name string) bool {
	l := strings.ToLower(name)
	return strings.HasSuffix(l, ".jpg") || strings.HasSuffix(l, ".jpeg")
}

func isCat(name string) bool { return strings.HasSuffix(strings.ToLower(name), ".cat") }
func isZip(name string) bool { return strings.HasSuffix(strings.ToLower(name), ".zip") }

// junk reports whether a path component marks files to ignore: hidden files and macOS
// archive metadata (__MACOSX/, ._name).
func junk(name string) bool {
	return strings.HasPrefix(name, ".") || name == "__MACOSX"
}

// scanner gathers files by name before pairing them.
type scanner struct {
	src   *Source
	files map[string]file // by entry name (photos and annotations)
}

func (sc *scanner) add(name string, f file) {
	switch {
	case isPhoto(name), isCat(name):
		sc.files[name] = f
	default:
		sc.src.Ignored++
	}
}

func (sc *scanner) problem(name string, r Reason, err error) {
	sc.src.Problems = append(sc.src.Problems, Problem{Name: name, Reason: r, Err: err})
}

// Scan lists the photos and annotations under path: a folder, searched recursively, with any
// zip archives inside it read in place; or a single .zip file. Each photo NAME.jpg is paired with
// NAME.jpg.cat beside it. Entries are sorted by name. Unpaired files, unreadable files and
// archives, and photos whose file name was already seen elsewhere in the source (the Kaggle
// archives hold the dataset twice, in two folders) are recorded in Problems. Scan fails only when path itself
// cannot be read. Hidden files and __MACOSX folders are ignored.
func Scan(root string) (*Source, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("catdata: %w", err)
	}
	src := &Source{Path: root}
	sc := &scanner{src: src, files: map[string]file{}}
	if !st.IsDir() {
		if !isZip(root) {
			return nil, fmt.Errorf("catdata: %s is neither a folder nor a .zip file", root)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("catdata: %s is not a regular file (mode %v)", root, st.Mode().Type())
		}
		if err := sc.addZip(root, ""); err != nil {
			return nil, fmt.Errorf("catdata: %s: %w", root, err)
		}
	} else if err := sc.walk(root); err != nil {
		src.Close()
		return nil, err
	}
	sc.pair()
	return src, nil
}

func (sc *scanner) walk(root string) error {
	resolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("catdata: %w", err)
	}
	return filepath.WalkDir(resolved, func(p string, d fs.DirEntry, err error) error {
		rel, rerr := filepath.Rel(resolved, p)
		if rerr != nil {
			return rerr
		}
		name := filepath.ToSlash(rel)
		if err != nil {
			if p == resolved {
				return fmt.Errorf("catdata: %w", err)
			}
			sc.problem(name, Unreadable, err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p == resolved {
			return nil
		}
		if junk(d.Name()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			st, err := os.Stat(p)
			if err != nil {
				sc.problem(name, Unreadable, err)
				return nil
			}
			if !st.Mode().IsRegular() {
				sc.notRegular(name, st.Mode())
				return nil
			}
		} else if !d.Type().IsRegular() {
			sc.notRegular(name, d.Type())
			return nil
		}
		if isZip(name) {
			if err := sc.addZip(p, name+"/"); err != nil {
				sc.problem(name, Unreadable, err)
			}
			return nil
		}
		sc.add(name, file{path: p})
		return nil
	})
}

// notRegular records a pipe, device or socket: a problem when it is named like a photo, an
// annotation or a zip (reading it could block or never end), else an ignored file.
func (sc *scanner) notRegular(name string, mode fs.FileMode) {
	if isPhoto(name) || isCat(name) || isZip(name) {
		sc.problem(name, NotRegular, fmt.Errorf("mode %v, skipped unread", mode.Type()))
		return
	}
	sc.src.Ignored++
}

// safeMember reports whether a zip member's name stays inside the archive when extracted:
// relative, slash-separated, without ".." elements or a drive letter.
func safeMember(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || (len(name) >= 2 && name[1] == ':') {
		return false
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return false
		}
	}
	return true
}

// addZip opens the zip at p and adds its members, their names prefixed with prefix.
func (sc *scanner) addZip(p, prefix string) error {
	z, err := zip.OpenReader(p)
	if err != nil {
		return fmt.Errorf("cannot read zip archive: %w", err)
	}
	sc.src.zips = append(sc.src.zips, z)
	for _, f := range z.File {
		if f.FileInfo().IsDir() {
			continue
		}
		// Before the junk check: ".." would pass for a hidden name.
		if !safeMember(f.Name) {
			sc.problem(prefix+f.Name, UnsafeName, errors.New("the member's name leads outside the archive; skipped"))
			continue
		}
		skip := false
		for _, part := range strings.Split(f.Name, "/") {
			if junk(part) {
				skip = true
			}
		}
		if skip {
			continue
		}
		if !f.Mode().IsRegular() {
			sc.problem(prefix+f.Name, NotRegular, fmt.Errorf("zip member of mode %v, skipped", f.Mode().Type()))
			continue
		}
		name := prefix + path.Clean(f.Name)
		if _, dup := sc.files[name]; dup {
			sc.problem(name, Duplicate, errors.New("the zip archive holds this name twice"))
			continue
		}
		sc.add(name, file{zf: f})
	}
	return nil
}

// pair matches photos with annotations and fills Entries and Problems, sorted by name.
func (sc *scanner) pair() {
	names := make([]string, 0, len(sc.files))
	for n := range sc.files {
		names = append(names, n)
	}
	sort.Strings(names)
	seen := map[string]string{} // photo file name → entry name that has it
	for _, n := range names {
		f := sc.files[n]
		if isPhoto(n) {
			cat, ok := sc.files[n+".cat"]
			if !ok {
				sc.problem(n, NoAnnotation, fmt.Errorf("no %s beside it", path.Base(n)+".cat"))
				continue
			}
			base := path.Base(n)
			if first, dup := seen[base]; dup {
				sc.problem(n, Duplicate, fmt.Errorf("same file name as %s, which is kept", first))
				continue
			}
			seen[base] = n
			sc.src.Entries = append(sc.src.Entries, Entry{Name: n, photo: f, cat: cat})
			continue
		}
		// An annotation: its photo is the name without ".cat".
		if photo := n[:len(n)-len(".cat")]; !isPhoto(photo) {
			sc.problem(n, NoPhoto, fmt.Errorf("annotation file name does not end in .jpg.cat"))
		} else if _, ok := sc.files[photo]; !ok {
			sc.problem(n, NoPhoto, fmt.Errorf("no %s beside it", path.Base(photo)))
		}
	}
	sort.SliceStable(sc.src.Problems, func(i, j int) bool { return sc.src.Problems[i].Name < sc.src.Problems[j].Name })
}

// Load decodes entry i: its photo as RGB and its landmarks in the photo's pixels, as the
// annotation gives them (unclipped). The photo keeps its stored pixel grid, whatever its EXIF
// orientation says, because the annotations are in that grid (LoadOriented turns both). A bad
// entry returns a *Problem naming the entry and the Reason: the annotation is checked first,
// then the photo. Grey and CMYK JPEGs are refused.
func (s *Source) Load(i int) (*imgproc.RGB, landmark.Points, error) {
	img, pts, _, err := s.load(i)
	return img, pts, err
}

// storedGrid are the limits of Load: imgproc.DefaultLimits, keeping the stored pixel grid.
var storedGrid = func() imgproc.Limits {
	l := imgproc.DefaultLimits
	l.IgnoreOrientation = true
	return l
}()

// load is Load that also returns the photo's EXIF orientation (Upright when it has none or it
// is malformed).
func (s *Source) load(i int) (*imgproc.RGB, landmark.Points, imgproc.Orientation, error) {
	img, pts, data, err := s.loadStored(i)
	if err != nil {
		return nil, pts, imgproc.Upright, err
	}
	o, _ := imgproc.ReadOrientation(data)
	return img, pts, o, nil
}

// loadStored is Load that also returns the photo's bytes.
func (s *Source) loadStored(i int) (*imgproc.RGB, landmark.Points, []byte, error) {
	e := s.Entries[i]
	pts, err := e.Points()
	if err != nil {
		return nil, pts, nil, err
	}
	fail := func(r Reason, err error) (*imgproc.RGB, landmark.Points, []byte, error) {
		return nil, pts, nil, &Problem{Name: e.Name, Reason: r, Err: err}
	}
	data, err := e.photo.read(maxPhotoSize)
	if err != nil {
		switch {
		case errors.Is(err, imgproc.ErrTooLarge):
			return fail(TooLarge, err)
		case errors.Is(err, imgproc.ErrNotRegular):
			return fail(NotRegular, err)
		}
		return fail(Unreadable, err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		_, _, derr := imgproc.DecodeImage(bytes.NewReader(data))
		return fail(decodeReason(data, derr))
	}
	switch cfg.ColorModel {
	case color.GrayModel:
		return fail(Grey, fmt.Errorf("%d×%d greyscale JPEG; the models take colour photos", cfg.Width, cfg.Height))
	case color.CMYKModel:
		return fail(CMYK, fmt.Errorf("%d×%d CMYK JPEG; the models take RGB photos", cfg.Width, cfg.Height))
	}
	img, _, err := storedGrid.Decode(context.Background(), data)
	if err != nil {
		return fail(decodeReason(data, err))
	}
	switch img.(type) {
	case *image.Gray:
		return fail(Grey, errors.New("greyscale JPEG"))
	case *image.CMYK:
		return fail(CMYK, errors.New("CMYK JPEG"))
	}
	return imgproc.FromImage(img), pts, data, nil
}

// Points reads and parses the entry's annotation. Errors are *Problem.
func (e Entry) Points() (landmark.Points, error) {
	data, err := e.cat.read(maxCatSize)
	if err != nil {
		return landmark.Points{}, &Problem{Name: e.Name, Reason: Unreadable, Err: fmt.Errorf("annotation %s: %w", path.Base(e.Name)+".cat", err)}
	}
	pts, err := ParseCat(data)
	if err != nil {
		r := Malformed
		if errors.Is(err, ErrPointCount) {
			r = PointCount
		}
		return pts, &Problem{Name: e.Name, Reason: r, Err: fmt.Errorf("%s: %w", path.Base(e.Name)+".cat", err)}
	}
	return pts, nil
}

// decodeReason classifies a failure to decode a photo's data.
func decodeReason(data []byte, err error) (Reason, error) {
	if err == nil {
		// DecodeConfig failed where a full decode succeeded: only a PNG gets here.
		err = errors.New("decodes, but is not JPEG data")
	}
	switch {
	case imgproc.Sniff(data) == "png":
		return NotJPEG, errors.New("PNG data in a .jpg file")
	case errors.Is(err, imgproc.ErrTooLarge):
		return TooLarge, err
	case errors.Is(err, imgproc.ErrUnknownFormat):
		return NotJPEG, err
	case errors.Is(err, imgproc.ErrTruncated):
		return Truncated, fmt.Errorf("%d bytes, the JPEG data ends early", len(data))
	case errors.Is(err, imgproc.ErrCorrupt):
		return CorruptJPEG, err
	}
	return Unreadable, err
}

// Package catdata reads the Cat Dataset: the .cat annotation format, and sources of photos
// with their annotations, either a folder tree (the CAT_00 … CAT_06 layout, or flat) or zip
// archives read in place.
package catdata

import (
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
	Unreadable   Reason = "unreadable"               // a file that cannot be read
	Truncated    Reason = "truncated JPEG"           // JPEG data that ends early
	NotJPEG      Reason = "not a JPEG"               // a .jpg whose content is something else
	CorruptJPEG  Reason = "corrupt JPEG"             // JPEG data that does not decode
	Grey         Reason = "grey image"               // a greyscale JPEG
	CMYK         Reason = "CMYK image"               // a CMYK JPEG
	Duplicate    Reason = "duplicate name"           // a second entry with a name already seen
)

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
	Name string // slash-separated path of the photo relative to the source's root or zip
}

// Source is a scanned Cat Dataset: its photos with annotations, sorted by name, and the
// problems found while scanning. Load reads entries; Close releases open zip archives.
type Source struct {
	Path     string
	Entries  []Entry
	Problems []Problem // found by Scan, sorted by name
}

// Len returns the number of entries.
func (s *Source) Len() int { return len(s.Entries) }

// Scan lists the photos and annotations under path: a folder (searched recursively, zips
// inside included) or a .zip file.
func Scan(path string) (*Source, error) {
	panic("catdata: Scan: not yet implemented")
}

// Load decodes entry i: its photo as RGB and its landmarks in the photo's pixels. A bad entry
// returns a *Problem.
func (s *Source) Load(i int) (*imgproc.RGB, landmark.Points, error) {
	panic("catdata: Load: not yet implemented")
}

// Close closes the zip archives the source holds open.
func (s *Source) Close() error { return nil }

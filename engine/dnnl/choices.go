package dnnl

/*
#include <dnnl.h>
*/
import "C"

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/catmark/catmark/internal/atomicfile"
)

// ChoicesEnv names the file in which the backend keeps its timed convolution choices between
// processes, as FFTW keeps its wisdom: a process that meets a convolution class some earlier
// process on this machine timed takes that choice instead of timing it again. Unset, the file is
// catmark/dnnl-choices.json in the user's cache folder (os.UserCacheDir); "off" keeps choices in
// memory only, timing each class anew in every process. Choices are kept per machine section
// (oneDNN's version, the CPU's model and instruction set, the thread count and the convolution
// policy), so a file shared between machines keeps each one's apart. The file is a cache: one
// that cannot be read or parsed counts as empty and is rewritten, and one that cannot be written
// leaves the backend timing as without it (Made.ChoicesErr says why).
const ChoicesEnv = "CATMARK_DNNL_CHOICES"

// choicesFormat is the file's format version; a file of another version counts as empty.
const choicesFormat = 1

// choicesDoc is the choices file: timed choices by machine section, then by convolution class
// (convClass).
type choicesDoc struct {
	Format   int                              `json:"format"`
	Sections map[string]map[string]convChoice `json:"sections"`
}

// choiceStore is the backend's link to its choices file.
type choiceStore struct {
	path    string // "" when off
	section string
	loaded  bool // the file has been read (on the first timed choice's lookup)
	dirty   bool // choices timed since the last save
	read    int  // choices taken from the file
	err     error
	// local holds the classes whose key names a process-local layout pointer (a binary-add
	// post-op's addend): meaningless to another process, they are not written.
	local map[string]bool
}

// timed records a choice timed in this process for class, to be written unless it is not
// portable (its key names a pointer).
func (st *choiceStore) timed(class string, portable bool) {
	st.dirty = true
	if !portable {
		if st.local == nil {
			st.local = map[string]bool{}
		}
		st.local[class] = true
	}
}

// choicesPath returns the choices file's path from ChoicesEnv, "" when off.
func choicesPath() string {
	switch p := os.Getenv(ChoicesEnv); p {
	case "off":
		return ""
	case "":
		dir, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(dir, "catmark", "dnnl-choices.json")
	default:
		return p
	}
}

// choicesSection returns the machine section the backend's choices belong to: choices timed
// under any other oneDNN, CPU, thread count or convolution policy do not carry over.
func (b *Backend) choicesSection() string {
	v := C.dnnl_version()
	return fmt.Sprintf("onednn %d.%d.%d, isa %d, cpu %q, threads %d, conv %d, layout %d, block %d, winograd scratch ≤ %d",
		int(v.major), int(v.minor), int(v.patch), int(C.dnnl_get_effective_cpu_isa()), cpuModel(), Threads(),
		b.convAlgo, b.layout, b.block, b.winoMax)
}

// cpuModel returns the CPU's model name from /proc/cpuinfo ("" where there is none).
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// readChoices reads the choices file at path: an empty document where it does not exist, cannot
// be parsed or has another format, with the reason where that is not simply absence.
func readChoices(path string) (choicesDoc, error) {
	empty := choicesDoc{Format: choicesFormat, Sections: map[string]map[string]convChoice{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return empty, fmt.Errorf("dnnl: reading the convolution choices: %w", err)
	}
	var d choicesDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return empty, fmt.Errorf("dnnl: %s is not a choices file (%v); rewriting it", path, err)
	}
	if d.Format != choicesFormat || d.Sections == nil {
		return empty, fmt.Errorf("dnnl: %s has choices format %d, want %d; rewriting it", path, d.Format, choicesFormat)
	}
	return d, nil
}

// loadChoices takes, once, the choices the file holds for this machine's section into
// b.convChoice (a choice timed in this process wins). It is called before a convolution class's
// choice is looked up, so a backend whose policy was changed after New reads the right section.
func (b *Backend) loadChoices() {
	st := &b.choices
	if st.loaded {
		return
	}
	st.loaded = true
	st.path = choicesPath()
	if st.path == "" {
		return
	}
	st.section = b.choicesSection()
	d, err := readChoices(st.path)
	st.err = err
	for class, s := range d.Sections[st.section] {
		if _, ok := b.convChoice[class]; !ok {
			b.convChoice[class] = s
			st.read++
		}
	}
}

// flushChoices saves the choices timed since the last save, if any. ToHost calls it: a result
// read back to the host ends a forward pass (or a training step's), so a pass's choices are
// written at once rather than one by one, and a process that runs one pass keeps them too.
func (b *Backend) flushChoices() {
	if b.choices.dirty {
		b.saveChoices()
	}
}

// saveChoices writes the choices timed since the last save into the file, merged with what the
// file holds now (other processes' choices and other sections are kept), atomically.
func (b *Backend) saveChoices() {
	st := &b.choices
	st.dirty = false
	if st.path == "" {
		return
	}
	d, _ := readChoices(st.path) // an unreadable file is rewritten
	sec := d.Sections[st.section]
	if sec == nil {
		sec = map[string]convChoice{}
		d.Sections[st.section] = sec
	}
	for class, c := range b.convChoice {
		if st.local[class] {
			continue
		}
		sec[class] = c
	}
	data, err := json.MarshalIndent(d, "", " ")
	if err == nil {
		err = os.MkdirAll(filepath.Dir(st.path), 0o755)
	}
	if err == nil {
		err = atomicfile.WriteFile(st.path, data)
	}
	if err != nil {
		st.err = fmt.Errorf("dnnl: keeping the convolution choices: %w", err)
	}
}

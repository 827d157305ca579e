// Package weights saves and loads catmark models as safetensors files: checkpoints with the
// optimiser's state and the training state, and torchvision / timm ImageNet weights.
//
// Tensors are stored by nn.Param name, which follows torchvision's state_dict ("conv1.weight",
// "layer3.0.downsample.1.running_mean"), so files interchange with PyTorch. A checkpoint written
// by Save holds, besides the model's tensors (float32):
//
//	optim.KIND.NAME        the optimiser's state per parameter ("optim.momentum.conv1.weight")
//	__metadata__           the caller's strings (training state, config as JSON, …) and
//	                       catmark.format, catmark.optimizer, catmark.optimizer.steps
//
// Save replaces its file atomically: a crash leaves either the old file or the new one, never a
// mixture or a truncated file. Load is strict (every parameter present with its shape, nothing
// else); ImportTorch is for weights made elsewhere (any float dtype, num_batches_tracked ignored,
// prefixes such as a differing head skipped).
package weights

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/catmark/catmark/engine"
	"github.com/catmark/catmark/internal/atomicfile"
	"github.com/catmark/catmark/nn"
)

// Reserved metadata keys; callers' keys must not start with "catmark.".
const (
	keyFormat    = "catmark.format"
	keyOptimizer = "catmark.optimizer"
	keySteps     = "catmark.optimizer.steps"
	reserved     = "catmark."
	formatV1     = "1"
	optimPrefix  = "optim."
)

// wrapWrite wraps the file Save writes (a test hook).
var wrapWrite = func(w io.Writer) io.Writer { return w }

// OptimizerState is what a checkpoint stores of an optimiser (package optim's Optimizer has
// these methods): its name, step count and per-parameter buffers keyed "KIND/NAME".
type OptimizerState interface {
	Name() string
	Steps() int
	SetSteps(n int)
	State() map[string][]float32
	SetState(state map[string][]float32) error
}

// Save writes params (every one, buffers and frozen ones included), opt's state when opt is not
// nil, and meta to path, replacing any file there atomically: it writes a temporary file in the
// same folder, syncs it, renames it over path and syncs the folder. On error path is unchanged and
// no temporary file remains. Metadata keys must not start with "catmark.".
func Save(path string, b engine.Backend, params []*nn.Param, opt OptimizerState, meta map[string]string) error {
	records, byName, err := modelRecords(b, params)
	if err != nil {
		return fmt.Errorf("weights: saving %s: %w", path, err)
	}
	all, err := fileMeta(path, meta)
	if err != nil {
		return err
	}
	if opt != nil {
		all[keyOptimizer] = opt.Name()
		all[keySteps] = strconv.Itoa(opt.Steps())
		state := opt.State()
		keys := make([]string, 0, len(state))
		for k := range state {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			kind, name, ok := strings.Cut(k, "/")
			if !ok || kind == "" || strings.Contains(kind, ".") {
				return fmt.Errorf("weights: saving %s: optimiser state key %q is not KIND/NAME", path, k)
			}
			if _, ok := byName[name]; !ok {
				return fmt.Errorf("weights: saving %s: optimiser state %q is for no parameter of the model", path, k)
			}
			records = append(records, record{optimPrefix + kind + "." + name, []int{len(state[k])}, state[k], false})
		}
	}
	return writeAtomic(path, func(w io.Writer) error { return writeSafetensors(w, records, all) })
}

// SaveHalf writes params for inference only, like Save without an optimiser, but stores trained
// tensors as F16 (half the size; about three significant digits), buffers such as batch-norm
// running statistics as F32. Load reads the file back into float32 parameters.
func SaveHalf(path string, b engine.Backend, params []*nn.Param, meta map[string]string) error {
	records, _, err := modelRecords(b, params)
	if err != nil {
		return fmt.Errorf("weights: saving %s: %w", path, err)
	}
	for i, p := range params {
		records[i].half = !p.Buffer
	}
	all, err := fileMeta(path, meta)
	if err != nil {
		return err
	}
	return writeAtomic(path, func(w io.Writer) error { return writeSafetensors(w, records, all) })
}

// fileMeta is the caller's metadata plus the format marker; the caller may not use reserved keys.
func fileMeta(path string, meta map[string]string) (map[string]string, error) {
	all := map[string]string{keyFormat: formatV1}
	for k, v := range meta {
		if strings.HasPrefix(k, reserved) {
			return nil, fmt.Errorf("weights: saving %s: metadata key %q is reserved (prefix %q)", path, k, reserved)
		}
		all[k] = v
	}
	return all, nil
}

// modelRecords lists params as records and indexes them by name.
func modelRecords(b engine.Backend, params []*nn.Param) ([]record, map[string]*nn.Param, error) {
	byName := make(map[string]*nn.Param, len(params))
	records := make([]record, 0, len(params))
	for _, p := range params {
		switch {
		case p.Name == "" || strings.HasPrefix(p.Name, optimPrefix):
			return nil, nil, fmt.Errorf("parameter name %q is empty or starts with %q", p.Name, optimPrefix)
		case byName[p.Name] != nil:
			return nil, nil, fmt.Errorf("two parameters are named %q", p.Name)
		case p.Value == nil:
			return nil, nil, fmt.Errorf("parameter %q has no value", p.Name)
		}
		byName[p.Name] = p
		records = append(records, record{p.Name, p.Value.Shape(), b.Data(p.Value), false})
	}
	return records, byName, nil
}

// writeAtomic writes a file through write and moves it to path only once it is complete and on
// disk (atomicfile.Write).
func writeAtomic(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, func(w io.Writer) error { return write(wrapWrite(w)) }); err != nil {
		return fmt.Errorf("weights: saving: %w", err)
	}
	return nil
}

// Load reads a checkpoint written by Save into params and, when opt is not nil, restores opt's
// state and step count (the file must then hold state of the same optimiser). It is strict: every
// parameter must be in the file with its shape, and the file may hold no other model tensors; on
// any mismatch it changes nothing and returns a *MismatchError listing every problem. It returns
// the metadata the caller saved (without the catmark.* keys).
func Load(path string, b engine.Backend, params []*nn.Param, opt OptimizerState) (map[string]string, error) {
	sf, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer sf.Close()
	return load(sf, b, params, opt)
}

// LoadBytes is Load for a checkpoint held in memory (an embedded model); name stands for its path
// in errors.
func LoadBytes(name string, data []byte, b engine.Backend, params []*nn.Param, opt OptimizerState) (map[string]string, error) {
	sf, err := openBytes(name, data)
	if err != nil {
		return nil, err
	}
	return load(sf, b, params, opt)
}

func load(sf *file, b engine.Backend, params []*nn.Param, opt OptimizerState) (map[string]string, error) {
	path := sf.path
	if sf.meta[keyFormat] != formatV1 {
		return nil, fmt.Errorf("weights: %s is not a catmark checkpoint (no %s=%s metadata); use ImportTorch for weights made elsewhere", path, keyFormat, formatV1)
	}
	_, byName, err := modelRecords(b, params)
	if err != nil {
		return nil, fmt.Errorf("weights: loading %s: %w", path, err)
	}
	state := map[string]TensorInfo{}
	model := map[string]TensorInfo{}
	for name, ti := range sf.tensors {
		if rest, ok := strings.CutPrefix(name, optimPrefix); ok {
			kind, pname, ok := strings.Cut(rest, ".")
			if !ok || kind == "" || pname == "" {
				return nil, fmt.Errorf("weights: %s: optimiser tensor %q is not optim.KIND.NAME", path, name)
			}
			state[kind+"/"+pname] = ti
			continue
		}
		model[name] = ti
	}
	if err := match(path, model, params, nil); err != nil {
		return nil, err
	}
	var steps int
	if opt != nil {
		saved, ok := sf.meta[keyOptimizer]
		switch {
		case !ok:
			return nil, fmt.Errorf("weights: %s holds no optimiser state (saved without one); load it with a nil optimiser", path)
		case saved != opt.Name():
			return nil, fmt.Errorf("weights: %s holds %s state, the optimiser is %s", path, saved, opt.Name())
		}
		if steps, err = strconv.Atoi(sf.meta[keySteps]); err != nil || steps < 0 {
			return nil, fmt.Errorf("weights: %s: metadata %s=%q is not a step count", path, keySteps, sf.meta[keySteps])
		}
		for key, ti := range state {
			_, pname, _ := strings.Cut(key, "/")
			p := byName[pname]
			if p == nil {
				return nil, fmt.Errorf("weights: %s: optimiser state %q is for no parameter of the model", path, ti.Name)
			}
			if !slices.Contains(floatDTypes, ti.DType) {
				return nil, fmt.Errorf("weights: %s: optimiser state %q has dtype %s", path, ti.Name, ti.DType)
			}
			// Buffers have one value per element; per-parameter counters have one value.
			if n, want := numel(ti.Shape), numel(p.Value.Shape()); len(ti.Shape) != 1 || n != want && n != 1 {
				return nil, fmt.Errorf("weights: %s: optimiser state %q has shape %v, parameter %s has %d values", path, ti.Name, ti.Shape, pname, want)
			}
		}
	}
	// Everything checked: read.
	for _, p := range params {
		if err := sf.readFloat32(model[p.Name], b.Data(p.Value)); err != nil {
			return nil, err
		}
	}
	if opt != nil {
		st := make(map[string][]float32, len(state))
		for key, ti := range state {
			v := make([]float32, numel(ti.Shape))
			if err := sf.readFloat32(ti, v); err != nil {
				return nil, err
			}
			st[key] = v
		}
		if err := opt.SetState(st); err != nil {
			return nil, fmt.Errorf("weights: %s: %w", path, err)
		}
		opt.SetSteps(steps)
	}
	meta := map[string]string{}
	for k, v := range sf.meta {
		if !strings.HasPrefix(k, reserved) {
			meta[k] = v
		}
	}
	return meta, nil
}

// ImportOptions adjusts ImportTorch.
type ImportOptions struct {
	// SkipPrefixes names tensors left out on both sides: parameters with one of these prefixes
	// keep their values, and file tensors with one are ignored ("fc." when the head differs).
	SkipPrefixes []string
}

// ImportTorch loads weights made by PyTorch (torchvision or timm ResNet ImageNet weights saved as
// safetensors, or a catmark checkpoint) into params by name. Tensors may be F32, F16, BF16 or F64;
// "…num_batches_tracked" tensors and a catmark checkpoint's optimiser state are ignored. Every
// parameter not skipped must be in the file with its shape, and every file tensor not skipped or
// ignored must be a parameter: on any mismatch nothing changes and the error, a *MismatchError,
// lists all missing, unexpected and mis-shaped tensors.
func ImportTorch(path string, b engine.Backend, params []*nn.Param, opt ImportOptions) error {
	if _, _, err := modelRecords(b, params); err != nil {
		return fmt.Errorf("weights: importing %s: %w", path, err)
	}
	sf, err := openFile(path)
	if err != nil {
		return err
	}
	defer sf.Close()
	skip := func(name string) bool {
		for _, pre := range opt.SkipPrefixes {
			if strings.HasPrefix(name, pre) {
				return true
			}
		}
		return false
	}
	catmark := sf.meta[keyFormat] == formatV1
	file := map[string]TensorInfo{}
	for name, ti := range sf.tensors {
		if skip(name) || strings.HasSuffix(name, "num_batches_tracked") || catmark && strings.HasPrefix(name, optimPrefix) {
			continue
		}
		file[name] = ti
	}
	var use []*nn.Param
	for _, p := range params {
		if !skip(p.Name) {
			use = append(use, p)
		}
	}
	if err := match(path, file, use, opt.SkipPrefixes); err != nil {
		return err
	}
	for _, p := range use {
		if err := sf.readFloat32(file[p.Name], b.Data(p.Value)); err != nil {
			return err
		}
	}
	return nil
}

// MismatchError says how a file's tensors differ from a model's parameters.
type MismatchError struct {
	Path       string
	Missing    []TensorInfo // parameters the file lacks (Shape: the model's)
	Unexpected []TensorInfo // file tensors the model lacks
	Misshaped  []Misshaped
	Skipped    []string // the prefixes that were skipped, for the message
}

// Misshaped is a tensor whose shape or dtype in the file does not fit its parameter.
type Misshaped struct {
	Name     string
	Want     []int  // the model's shape
	Got      []int  // the file's shape
	DType    string // the file's dtype
	BadDType bool   // the dtype, not the shape, is the problem
}

// maxListed bounds how many tensors of each kind the message names.
const maxListed = 40

func (e *MismatchError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "weights: %s does not match the model (%d missing, %d unexpected, %d mis-shaped)",
		e.Path, len(e.Missing), len(e.Unexpected), len(e.Misshaped))
	if len(e.Skipped) > 0 {
		fmt.Fprintf(&sb, ", skipping %q", e.Skipped)
	}
	sb.WriteString(":")
	for i, t := range e.Missing {
		if i == maxListed {
			fmt.Fprintf(&sb, "\n  … and %d more missing", len(e.Missing)-i)
			break
		}
		fmt.Fprintf(&sb, "\n  missing     %s %v", t.Name, t.Shape)
	}
	for i, t := range e.Unexpected {
		if i == maxListed {
			fmt.Fprintf(&sb, "\n  … and %d more unexpected", len(e.Unexpected)-i)
			break
		}
		fmt.Fprintf(&sb, "\n  unexpected  %s %v %s", t.Name, t.Shape, t.DType)
	}
	for i, m := range e.Misshaped {
		if i == maxListed {
			fmt.Fprintf(&sb, "\n  … and %d more mis-shaped", len(e.Misshaped)-i)
			break
		}
		if m.BadDType {
			fmt.Fprintf(&sb, "\n  mis-shaped  %s: file has dtype %s, want one of %s", m.Name, m.DType, strings.Join(floatDTypes, ", "))
		} else {
			fmt.Fprintf(&sb, "\n  mis-shaped  %s: model %v, file %v", m.Name, m.Want, m.Got)
		}
	}
	if len(e.Skipped) == 0 && e.mentions("fc.") {
		sb.WriteString("\n  (a head that differs can be left out by skipping the prefix \"fc.\")")
	}
	return sb.String()
}

// mentions reports whether any listed tensor's name starts with prefix.
func (e *MismatchError) mentions(prefix string) bool {
	for _, t := range slices.Concat(e.Missing, e.Unexpected) {
		if strings.HasPrefix(t.Name, prefix) {
			return true
		}
	}
	for _, m := range e.Misshaped {
		if strings.HasPrefix(m.Name, prefix) {
			return true
		}
	}
	return false
}

// match checks file tensors against params: every param present with its shape and a float
// dtype, no other tensor.
func match(path string, file map[string]TensorInfo, params []*nn.Param, skipped []string) error {
	e := &MismatchError{Path: path, Skipped: skipped}
	want := map[string]bool{}
	for _, p := range params {
		want[p.Name] = true
		shape := p.Value.Shape()
		ti, ok := file[p.Name]
		switch {
		case !ok:
			e.Missing = append(e.Missing, TensorInfo{Name: p.Name, Shape: shape})
		case !slices.Contains(floatDTypes, ti.DType):
			e.Misshaped = append(e.Misshaped, Misshaped{Name: p.Name, Want: shape, Got: ti.Shape, DType: ti.DType, BadDType: true})
		case !slices.Equal(ti.Shape, shape):
			e.Misshaped = append(e.Misshaped, Misshaped{Name: p.Name, Want: shape, Got: ti.Shape, DType: ti.DType})
		}
	}
	for name, ti := range file {
		if !want[name] {
			e.Unexpected = append(e.Unexpected, ti)
		}
	}
	if len(e.Missing)+len(e.Unexpected)+len(e.Misshaped) == 0 {
		return nil
	}
	sort.Slice(e.Unexpected, func(i, j int) bool { return e.Unexpected[i].Name < e.Unexpected[j].Name })
	return e
}

// Inspect lists the tensors of a safetensors file in file order, and its metadata, reading only
// the header.
func Inspect(path string) ([]TensorInfo, map[string]string, error) {
	sf, err := openFile(path)
	if err != nil {
		return nil, nil, err
	}
	defer sf.Close()
	return sf.order, sf.meta, nil
}

// InspectBytes is Inspect for a file held in memory; name stands for its path in errors.
func InspectBytes(name string, data []byte) ([]TensorInfo, map[string]string, error) {
	sf, err := openBytes(name, data)
	if err != nil {
		return nil, nil, err
	}
	return sf.order, sf.meta, nil
}

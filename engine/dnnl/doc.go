// Package dnnl is catmark's fast CPU backend: the engine.Backend operations run as oneDNN 2.x
// primitives (Debian's libdnnl-dev, through cgo). Importing it registers the backend as "dnnl";
// it is built only with cgo and without the build tag "nodnnl", so CGO_ENABLED=0 builds simply
// lack it.
//
// Primitives. Every primitive is made once per operation, shapes, parameters and input layout
// and cached; so are the reorders between layouts. A training step after the first makes none.
//
// Layouts. Activations stay in the blocked layout oneDNN's AVX-512 convolutions use (nChw16c)
// from one layer to the next; a tensor carries its memory descriptor, and an operation that needs
// another layout reorders its input once, in place (the tensor keeps the new layout). FromHost,
// Zeros and Data give plain row-major tensors, and ToHost always returns plain data.
//
// Parameters stay plain. A convolution reorders its weights into the layout it wants. The rule
// for when that copy is kept: a copy is cached beside the weight tensor, tagged with the
// tensor's version, once the tensor has been used twice in that layout at the same version
// (inference, frozen layers); a tensor whose version changed between two uses gets a temporary
// copy per use, freed after it (trained weights: no memory held between steps). Data bumps the
// version and drops the cached copies, so: write a parameter only through a slice that Data
// returned after the tensor's last use by an operation (optimisers call Data at every step).
//
// Memory. Tensor storage is C memory from a free list keyed by size (a request takes a free
// buffer of its size, else the smallest free one at most a quarter larger): Release returns a
// buffer, so a training step that releases what it no longer needs allocates nothing once warm.
// Tensors dropped without Release are returned by a cleanup when the garbage collector finds
// them. Primitives share one user-managed scratchpad, the largest any needs. Go pointers are never
// handed to oneDNN objects that outlive a call.
//
// Fusion. Training uses oneDNN's batch norm with fused ReLU (a bit-mask workspace in
// BNSaved.Internal), gradients of γ and β from the same pass, and an in-place binary add for
// AddInto. With fixed statistics (engine.BNInfer: inference and frozen layers) a batch norm that
// reads a convolution's output is folded into the convolution's weights and bias, and a ReLU and
// a residual Add that follow become post-ops (eltwise, and sum into the addend's storage, which
// is taken over when the caller has released the addend). To do so a Conv2D's result is
// computed lazily, when something other than a fusible operation first needs it; the inputs it
// needs are kept alive until then, even if released meanwhile.
//
// Convolution algorithms. On first use of each shape and pass (forward, backward data, backward
// weights) the backend times the AVX-512 implementations oneDNN offers for it and keeps the
// fastest: the direct kernels (for 1×1 convolutions both the 1×1 and the general one), Winograd
// for 3×3 stride-1 convolutions (unless it needs a scratchpad over 48 MiB), and for fused
// inference convolutions also the nhwc and nchw layouts, charged with their reorders. Batch sizes
// share a choice: those of one power-of-two bucket, and for inference convolutions all from 8 up,
// timed on a batch of 8 (a detector runs batches of many sizes: catmark predict on 20 photos ran
// 15, and timing each bucket at its size ran more than twice the convolution work of the
// predictions). The choice depends on timings, so two runs may pick different kernels and round
// differently (within float32 rounding); CATMARK_DNNL_CONV=direct makes the choice fixed. That is
// the default on a CPU without AVX-512: oneDNN 2.6 has no Winograd or second direct kernel for
// AVX2, and timing the layouts cost more than it saved (catmark serve at 20 clients: 17.4
// requests/s direct, 16.6 tuned; batches of varying size, each tuned anew, 20.5 against 17.7).
// Backend.Made counts the primitives made and the choices timed. The choices are kept between
// processes in a file (ChoicesEnv; by default in the user's cache folder), so a process that meets
// a class an earlier one on this machine timed runs its choice untimed: catmark predict
// --first-stage centers on 131 photos reads 17.1 photos/s with the file and 11.9 without.
//
// engine/purego's Winograd as a provider. With CATMARK_DNNL_CONV=go-winograd the forward and
// input-gradient convolutions of 3×3 stride-1 layers run as engine/purego's Winograd F(4×4, 3×3)
// (AVX-512 or AVX2 and FMA assembly), for the layers CATMARK_WINOGRAD's rule picks (auto: at
// least 16 channels each side, an output at least 8×8 and 32 tiles over the batch; on: all); the
// rest, and every weight gradient, stay oneDNN's direct convolutions. A layer whose input is in the
// blocked layout (nChw16c or nChw8c) runs on it and leaves its output (and, backward, the input
// gradient) in it, padding channels zero, so no reorder surrounds it and the batch norm after it
// runs on the blocked layout; any other input is reordered to nchw and the layer runs on plain
// storage (with CATMARK_DNNL_LAYOUT=plain, every layer). A folded batch norm, residual Add and
// ReLU are applied as with oneDNN (the Add and ReLU in one pass after the convolution);
// gowino.go has the details.
//
// Choosing per layer between oneDNN and the provider. With CATMARK_DNNL_CONV=tune-go the timed
// choice above also times the provider, for the forward and the input-gradient convolution
// classes of the 3×3 stride-1 layers CATMARK_WINOGRAD's rule picks (each class separately): on
// the class's first use, beside oneDNN's candidates, on the same scratch inputs in the same
// layout (the blocked one; plain with another CATMARK_DNNL_LAYOUT, charged with the reorders to
// it), the filters transformed beforehand as oneDNN's weights are reordered beforehand. The
// faster of the provider and oneDNN's fastest candidate wins the class; classes are shared
// across batch sizes as above (a power-of-two bucket; inference from 8 up, timed on 8), and every
// later call of the class runs the winner with no further timing. Backend.ConvPaths says which
// path each layer and pass took, and the profile (CATMARK_PROFILE=1, catmark bench --profile)
// lists it. It is a value of CATMARK_DNNL_CONV of its own rather than a change to tune or a
// separate switch: tune, the default, keeps its kernels and its timing cost; one variable names
// the whole convolution policy (no combination such as go-winograd plus a switch to mean
// nothing); and "auto" already names CATMARK_WINOGRAD's rule and CATMARK_DNNL_AUTO. It works on
// an AVX2 CPU too, where the provider is timed against oneDNN's one direct kernel.
//
// Layout. Activations are kept in oneDNN's blocked layout with as many channels a block as the
// CPU's vector holds floats (nChw16c with AVX-512, nChw8c with AVX2): any other blocking sends
// oneDNN to its reference kernels, a hundred times slower.
//
// Threads. oneDNN runs its primitives on OpenMP threads: OMP_NUM_THREADS sets how many (default:
// all cores); GOMAXPROCS does not matter. OpenMP starts a thread team per calling OS thread, so a
// program that runs the backend from one goroutine may call runtime.LockOSThread to keep one
// team. A Backend is safe for concurrent use; its operations are serialised.
//
// Environment (mainly for experiments and benchmarks):
//
//	CATMARK_PROFILE=1            time every operation (Backend.ProfileReport; catmark bench --profile)
//	CATMARK_PROFILE_TOP=N        list N operation-and-shape entries in the report (default 40)
//	CATMARK_DNNL_CONV=tune       direct | winograd | tune | go-winograd | tune-go: convolution
//	                             algorithm choice (default: tune with AVX-512, direct otherwise)
//	CATMARK_WINOGRAD=auto        with go-winograd: auto | on | off, which 3×3 stride-1 layers use it;
//	                             with tune-go, which ones time it
//	CATMARK_DNNL_WINO_MAX_MIB=48 the largest scratchpad a Winograd convolution may use
//	CATMARK_DNNL_LAYOUT=blocked  blocked (nChw16c or nChw8c) | any (oneDNN's choice) | nhwc | plain (nchw)
//	CATMARK_DNNL_AUTO=1          let oneDNN choose the algorithm (convolution_auto) for direct ones
//	CATMARK_DNNL_POOL=malloc     no free list: malloc and free each buffer
//	ONEDNN_VERBOSE=1             oneDNN's own log of every primitive and its time
package dnnl

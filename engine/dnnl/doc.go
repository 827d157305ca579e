// Package dnnl is catmark's fast CPU backend: the engine.Backend operations run as oneDNN 2.x
// primitives (Debian's libdnnl-dev, through cgo). Importing it registers the backend as "dnnl";
// it is built only with cgo and without the build tag "nodnnl", so CGO_ENABLED=0 builds simply
// lack it.
//
// Layouts. Activations stay in the blocked layouts oneDNN's convolutions prefer (nChw16c on
// AVX-512) from one layer to the next; a tensor carries its memory descriptor, and an operation
// that needs another layout reorders its input once, in place (the tensor keeps the new layout).
// FromHost, Zeros and Data give plain row-major tensors, and ToHost always returns plain data.
//
// Parameters stay plain. A convolution reorders its weights into the layout it wants and keeps
// that copy beside the weight tensor, tagged with the tensor's version; Data bumps the version,
// so the rule is: write a parameter only through a slice that Data returned after the tensor's
// last use by an operation (optimisers call Data at every step, which is what they do anyway).
//
// Memory. Tensor storage is C memory from a free list keyed by size: Release returns a buffer to
// it, so a training step that releases what it no longer needs allocates nothing once warm.
// Tensors dropped without Release are returned by a cleanup when the garbage collector finds
// them. Go pointers are never handed to oneDNN objects that outlive a call.
//
// Inference fusion. When batch normalisation runs with fixed statistics (engine.BNInfer) on the
// output of a convolution, the backend folds it into the convolution's weights and bias; a ReLU
// and a residual Add that follow are fused as post-ops. To do so a Conv2D's result is computed
// lazily, when something other than a fusible operation first needs it; the inputs it needs are
// kept alive until then, even if Released. Training (engine.BNTrain) uses the fused
// batch-norm+ReLU primitive with a workspace.
//
// Threads. oneDNN runs its primitives on OpenMP threads: OMP_NUM_THREADS sets how many (default:
// all cores); GOMAXPROCS does not matter. A Backend is safe for concurrent use; operations are
// serialised.
//
// Profiling. With CATMARK_PROFILE=1 in the environment the backend times every operation; see
// Backend.ProfileReport.
package dnnl

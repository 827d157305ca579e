// cm.h: small C helpers around oneDNN's C API for package dnnl (catmark).
#ifndef CATMARK_DNNL_CM_H
#define CATMARK_DNNL_CM_H

#include <stdint.h>
#include <stddef.h>
#include <oneapi/dnnl/dnnl.h>

// cm_arg is one execution argument: its DNNL_ARG_* kind, memory descriptor and buffer.
typedef struct {
	int arg;
	const dnnl_memory_desc_t *md;
	void *ptr;
} cm_arg;

// Op kinds for the primitive-descriptor helpers.
enum {
	CM_FWD_TRAIN = 0,
	CM_FWD_INFER = 1,
	CM_BWD_DATA = 2,
	CM_BWD_WEIGHTS = 3, // for batch norm: backward with scale and shift gradients
};

int cm_init(void);
dnnl_engine_t cm_engine(void);
int cm_max_threads(void);
int cm_block(void);

void cm_md_tag(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, int tag);
uint64_t cm_md_hash(const dnnl_memory_desc_t *md);
int cm_md_is_blocked_plain(const dnnl_memory_desc_t *md);
void cm_md_describe(const dnnl_memory_desc_t *md, char *buf, int n);

int cm_exec(dnnl_primitive_t p, int n, const cm_arg *args);

int cm_conv_pd(dnnl_primitive_desc_t *pd, int kind, int algo, int nth, const int64_t *x, const int64_t *w,
	const int64_t *y, int has_bias, int stride, int pad, int src_tag, int dst_tag,
	int post_sum, const dnnl_memory_desc_t *post_binary, int post_relu, dnnl_primitive_desc_t hint);
int cm_bn_pd(dnnl_primitive_desc_t *pd, int kind, const dnnl_memory_desc_t *data, float eps,
	unsigned flags, dnnl_primitive_desc_t hint);
int cm_eltwise_pd(dnnl_primitive_desc_t *pd, int kind, int alg, const dnnl_memory_desc_t *data,
	const dnnl_memory_desc_t *diff, dnnl_primitive_desc_t hint);
int cm_binary_pd(dnnl_primitive_desc_t *pd, const dnnl_memory_desc_t *a,
	const dnnl_memory_desc_t *b, int relu);
int cm_pool_pd(dnnl_primitive_desc_t *pd, int kind, int alg, const dnnl_memory_desc_t *src,
	const dnnl_memory_desc_t *dst, int kernel_h, int kernel_w, int stride, int pad_l,
	int pad_r_h, int pad_r_w, dnnl_primitive_desc_t hint);
int cm_ip_pd(dnnl_primitive_desc_t *pd, int kind, const dnnl_memory_desc_t *x,
	const dnnl_memory_desc_t *w, const dnnl_memory_desc_t *b, const dnnl_memory_desc_t *y,
	dnnl_primitive_desc_t hint);
int cm_reorder_pd(dnnl_primitive_desc_t *pd, const dnnl_memory_desc_t *src,
	const dnnl_memory_desc_t *dst, int sum);
const char *cm_impl(dnnl_primitive_desc_t pd);

// Element-wise helpers on plain float arrays, parallel with OpenMP.
void cm_fold_bn(float *wout, float *bout, const float *w, const float *b, const float *gamma,
	const float *beta, const float *mean, const float *var, float eps, int64_t o, int64_t per);
void cm_running_update(float *rm, float *rv, const float *m, const float *v, int64_t c,
	float momentum, float unbias);

// Anonymous memory straight from the kernel (zeroed), for short-lived buffers.
void *cm_map(size_t size);
void cm_unmap(void *p, size_t size);

#endif

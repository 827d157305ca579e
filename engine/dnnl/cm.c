//go:build cgo && !nodnnl

// cm.c: small C helpers around oneDNN's C API for package dnnl (catmark). Go calls one helper per
// operation so that each operation costs one cgo crossing.
#include "cm.h"

#include <stdio.h>
#include <string.h>
#include <omp.h>
#include <math.h>
#include <sys/mman.h>

static dnnl_engine_t g_eng;
static dnnl_stream_t g_stream;

int cm_init(void) {
	dnnl_status_t s = dnnl_engine_create(&g_eng, dnnl_cpu, 0);
	if (s != dnnl_success) return (int)s;
	return (int)dnnl_stream_create(&g_stream, g_eng, dnnl_stream_default_flags);
}

dnnl_engine_t cm_engine(void) { return g_eng; }

int cm_max_threads(void) { return omp_get_max_threads(); }

// cm_block is the channel block of the CPU's native blocked layout: 16 (one AVX-512 register of
// floats) where oneDNN runs AVX-512 kernels, 8 (AVX, AVX2), 0 where it has neither.
int cm_block(void) {
	unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
	if ((isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core) return 16;
	if ((isa & dnnl_cpu_isa_avx) == dnnl_cpu_isa_avx) return 8;
	return 0;
}

void cm_md_tag(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, int tag) {
	dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, (dnnl_format_tag_t)tag);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
	const unsigned char *b = (const unsigned char *)p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	return h;
}

uint64_t cm_md_hash(const dnnl_memory_desc_t *md) {
	uint64_t h = 14695981039346656037ULL;
	h = fnv(h, &md->ndims, sizeof md->ndims);
	h = fnv(h, md->dims, sizeof(md->dims[0]) * md->ndims);
	h = fnv(h, &md->data_type, sizeof md->data_type);
	h = fnv(h, md->padded_dims, sizeof(md->padded_dims[0]) * md->ndims);
	h = fnv(h, &md->format_kind, sizeof md->format_kind);
	if (md->format_kind == dnnl_blocked) {
		const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
		h = fnv(h, b->strides, sizeof(b->strides[0]) * md->ndims);
		h = fnv(h, &b->inner_nblks, sizeof b->inner_nblks);
		h = fnv(h, b->inner_blks, sizeof(b->inner_blks[0]) * b->inner_nblks);
		h = fnv(h, b->inner_idxs, sizeof(b->inner_idxs[0]) * b->inner_nblks);
	}
	h = fnv(h, &md->extra.flags, sizeof md->extra.flags);
	return h;
}

// cm_md_is_blocked_plain reports whether md is dense row-major (no inner blocks, no padding).
int cm_md_is_blocked_plain(const dnnl_memory_desc_t *md) {
	if (md->format_kind != dnnl_blocked) return 0;
	const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
	if (b->inner_nblks != 0) return 0;
	int64_t stride = 1;
	for (int i = md->ndims - 1; i >= 0; i--) {
		if (md->padded_dims[i] != md->dims[i]) return 0;
		if (md->dims[i] != 1 && b->strides[i] != stride) return 0;
		stride *= md->dims[i];
	}
	return 1;
}

void cm_md_describe(const dnnl_memory_desc_t *md, char *buf, int n) {
	int k = snprintf(buf, n, "nd=%d kind=%d off=%lld extra=%llx", md->ndims, (int)md->format_kind, (long long)md->offset0, (unsigned long long)md->extra.flags);
	k += snprintf(buf + k, n - k, " pdims=");
	for (int i = 0; i < md->ndims && k < n; i++) k += snprintf(buf + k, n - k, "%lld,", (long long)md->padded_dims[i]);
	k += snprintf(buf + k, n - k, " poff=");
	for (int i = 0; i < md->ndims && k < n; i++) k += snprintf(buf + k, n - k, "%lld,", (long long)md->padded_offsets[i]);
	if (md->format_kind == dnnl_blocked && k < n) {
		const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
		k += snprintf(buf + k, n - k, " strides=");
		for (int i = 0; i < md->ndims && k < n; i++) k += snprintf(buf + k, n - k, "%lld,", (long long)b->strides[i]);
		for (int i = 0; i < b->inner_nblks && k < n; i++)
			k += snprintf(buf + k, n - k, " %lld%c", (long long)b->inner_blks[i], 'a' + b->inner_idxs[i]);
	}
}

#define CM_MAX_ARGS 12

int cm_exec(dnnl_primitive_t p, int n, const cm_arg *a) {
	dnnl_exec_arg_t args[CM_MAX_ARGS];
	dnnl_status_t s = dnnl_success;
	int made = 0;
	if (n > CM_MAX_ARGS) return dnnl_invalid_arguments;
	for (; made < n; made++) {
		args[made].arg = a[made].arg;
		s = dnnl_memory_create(&args[made].memory, a[made].md, g_eng, a[made].ptr);
		if (s != dnnl_success) goto out;
	}
	s = dnnl_primitive_execute(p, g_stream, n, args);
	if (s == dnnl_success) s = dnnl_stream_wait(g_stream);
out:
	for (int i = 0; i < made; i++) dnnl_memory_destroy(args[i].memory);
	return (int)s;
}

// make_attr returns primitive attributes with the given post-ops and a user-managed scratchpad:
// the library's global scratchpad is per thread of creation, and Go may execute a primitive on
// another OS thread than the one that created it.
static dnnl_primitive_attr_t make_attr(int post_sum, int post_relu, const dnnl_memory_desc_t *binary_md) {
	dnnl_primitive_attr_t attr = NULL;
	dnnl_primitive_attr_create(&attr);
	dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
	if (post_sum || post_relu || binary_md) {
		dnnl_post_ops_t po;
		dnnl_post_ops_create(&po);
		if (post_sum) dnnl_post_ops_append_sum(po, 1.0f);
		if (binary_md) dnnl_post_ops_append_binary(po, dnnl_binary_add, binary_md);
		if (post_relu) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
		dnnl_primitive_attr_set_post_ops(attr, po);
		dnnl_post_ops_destroy(po);
	}
	return attr;
}

static int create_pd(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t d, dnnl_primitive_desc_t hint) {
	dnnl_primitive_attr_t attr = make_attr(0, 0, NULL);
	dnnl_status_t s = dnnl_primitive_desc_create(pd, d, attr, g_eng, hint);
	dnnl_primitive_attr_destroy(attr);
	return (int)s;
}

// pd_nth creates the descriptor of oneDNN's nth implementation (in its order of preference) of
// the operation d: nth 0 is what dnnl_primitive_desc_create gives.
static dnnl_status_t pd_nth(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t d, dnnl_primitive_attr_t attr,
	dnnl_primitive_desc_t hint, int nth) {
	if (nth == 0) return dnnl_primitive_desc_create(pd, d, attr, g_eng, hint);
	dnnl_primitive_desc_iterator_t it;
	dnnl_status_t s = dnnl_primitive_desc_iterator_create(&it, d, attr, g_eng, hint);
	if (s != dnnl_success) return s;
	for (int i = 0; i < nth && s == dnnl_success; i++) s = dnnl_primitive_desc_iterator_next(it);
	if (s == dnnl_success) {
		*pd = dnnl_primitive_desc_iterator_fetch(it);
		if (!*pd) s = dnnl_runtime_error;
	} else {
		s = dnnl_unimplemented;
	}
	dnnl_primitive_desc_iterator_destroy(it);
	return s;
}

static void dims4(int64_t *d, const int64_t *s) { for (int i = 0; i < 4; i++) d[i] = s[i]; }

int cm_conv_pd(dnnl_primitive_desc_t *pd, int kind, int algo, int nth, const int64_t *x, const int64_t *w,
	const int64_t *y, int has_bias, int stride, int pad, int src_tag, int dst_tag,
	int post_sum, const dnnl_memory_desc_t *post_binary, int post_relu, dnnl_primitive_desc_t hint) {
	dnnl_dims_t xd, wd, yd, bd, st, pl, pr;
	dims4(xd, x); dims4(wd, w); dims4(yd, y);
	bd[0] = w[0];
	st[0] = st[1] = stride;
	pl[0] = pl[1] = pad;
	// Right padding so that the output size matches (in + pl + pr - k)/stride + 1 exactly.
	pr[0] = (y[2] - 1) * stride + w[2] - x[2] - pad;
	pr[1] = (y[3] - 1) * stride + w[3] - x[3] - pad;
	dnnl_memory_desc_t xm, wm, ym, bm;
	dnnl_memory_desc_init_by_tag(&xm, 4, xd, dnnl_f32, (dnnl_format_tag_t)src_tag);
	dnnl_memory_desc_init_by_tag(&wm, 4, wd, dnnl_f32, dnnl_format_tag_any);
	dnnl_memory_desc_init_by_tag(&ym, 4, yd, dnnl_f32, (dnnl_format_tag_t)dst_tag);
	dnnl_memory_desc_init_by_tag(&bm, 1, bd, dnnl_f32, dnnl_a);
	dnnl_alg_kind_t alg = algo == 2 ? dnnl_convolution_winograd : algo ? dnnl_convolution_auto : dnnl_convolution_direct;
	dnnl_convolution_desc_t d;
	dnnl_status_t s;
	switch (kind) {
	case CM_FWD_TRAIN:
	case CM_FWD_INFER:
		s = dnnl_convolution_forward_desc_init(&d, kind == CM_FWD_TRAIN ? dnnl_forward_training : dnnl_forward_inference,
			alg, &xm, &wm, has_bias ? &bm : NULL, &ym, st, pl, pr);
		break;
	case CM_BWD_DATA:
		s = dnnl_convolution_backward_data_desc_init(&d, alg, &xm, &wm, &ym, st, pl, pr);
		break;
	default:
		s = dnnl_convolution_backward_weights_desc_init(&d, alg, &xm, &wm, has_bias ? &bm : NULL, &ym, st, pl, pr);
	}
	if (s != dnnl_success) return (int)s;
	dnnl_primitive_attr_t attr = make_attr(post_sum, post_relu, post_binary);
	s = pd_nth(pd, &d, attr, hint, nth);
	dnnl_primitive_attr_destroy(attr);
	return (int)s;
}

int cm_bn_pd(dnnl_primitive_desc_t *pd, int kind, const dnnl_memory_desc_t *data, float eps,
	unsigned flags, dnnl_primitive_desc_t hint) {
	dnnl_batch_normalization_desc_t d;
	dnnl_status_t s;
	switch (kind) {
	case CM_FWD_TRAIN:
	case CM_FWD_INFER:
		s = dnnl_batch_normalization_forward_desc_init(&d, kind == CM_FWD_TRAIN ? dnnl_forward_training : dnnl_forward_inference,
			data, eps, flags);
		break;
	case CM_BWD_DATA:
		s = dnnl_batch_normalization_backward_desc_init(&d, dnnl_backward_data, data, data, eps, flags);
		break;
	default:
		s = dnnl_batch_normalization_backward_desc_init(&d, dnnl_backward, data, data, eps, flags);
	}
	if (s != dnnl_success) return (int)s;
	return create_pd(pd, &d, hint);
}

int cm_eltwise_pd(dnnl_primitive_desc_t *pd, int kind, int alg, const dnnl_memory_desc_t *data,
	const dnnl_memory_desc_t *diff, dnnl_primitive_desc_t hint) {
	dnnl_eltwise_desc_t d;
	dnnl_status_t s;
	if (kind == CM_FWD_TRAIN || kind == CM_FWD_INFER)
		s = dnnl_eltwise_forward_desc_init(&d, kind == CM_FWD_TRAIN ? dnnl_forward_training : dnnl_forward_inference,
			(dnnl_alg_kind_t)alg, data, 0.0f, 0.0f);
	else
		s = dnnl_eltwise_backward_desc_init(&d, (dnnl_alg_kind_t)alg, diff, data, 0.0f, 0.0f);
	if (s != dnnl_success) return (int)s;
	return create_pd(pd, &d, hint);
}

int cm_binary_pd(dnnl_primitive_desc_t *pd, const dnnl_memory_desc_t *a,
	const dnnl_memory_desc_t *b, int relu) {
	dnnl_binary_desc_t d;
	dnnl_status_t s = dnnl_binary_desc_init(&d, dnnl_binary_add, a, b, a);
	if (s != dnnl_success) return (int)s;
	dnnl_primitive_attr_t attr = make_attr(0, relu, NULL);
	s = dnnl_primitive_desc_create(pd, &d, attr, g_eng, NULL);
	dnnl_primitive_attr_destroy(attr);
	return (int)s;
}

int cm_pool_pd(dnnl_primitive_desc_t *pd, int kind, int alg, const dnnl_memory_desc_t *src,
	const dnnl_memory_desc_t *dst, int kernel_h, int kernel_w, int stride, int pad_l,
	int pad_r_h, int pad_r_w, dnnl_primitive_desc_t hint) {
	dnnl_dims_t st, k, dil, pl, pr;
	st[0] = st[1] = stride;
	k[0] = kernel_h; k[1] = kernel_w;
	dil[0] = dil[1] = 0;
	pl[0] = pl[1] = pad_l;
	pr[0] = pad_r_h; pr[1] = pad_r_w;
	dnnl_pooling_v2_desc_t d;
	dnnl_status_t s;
	if (kind == CM_FWD_TRAIN || kind == CM_FWD_INFER)
		s = dnnl_pooling_v2_forward_desc_init(&d, kind == CM_FWD_TRAIN ? dnnl_forward_training : dnnl_forward_inference,
			(dnnl_alg_kind_t)alg, src, dst, st, k, dil, pl, pr);
	else
		s = dnnl_pooling_v2_backward_desc_init(&d, (dnnl_alg_kind_t)alg, src, dst, st, k, dil, pl, pr);
	if (s != dnnl_success) return (int)s;
	return create_pd(pd, &d, hint);
}

int cm_ip_pd(dnnl_primitive_desc_t *pd, int kind, const dnnl_memory_desc_t *x,
	const dnnl_memory_desc_t *w, const dnnl_memory_desc_t *b, const dnnl_memory_desc_t *y,
	dnnl_primitive_desc_t hint) {
	dnnl_inner_product_desc_t d;
	dnnl_status_t s;
	switch (kind) {
	case CM_FWD_TRAIN:
	case CM_FWD_INFER:
		s = dnnl_inner_product_forward_desc_init(&d, dnnl_forward_training, x, w, b, y);
		break;
	case CM_BWD_DATA:
		s = dnnl_inner_product_backward_data_desc_init(&d, x, w, y);
		break;
	default:
		s = dnnl_inner_product_backward_weights_desc_init(&d, x, w, b, y);
	}
	if (s != dnnl_success) return (int)s;
	return create_pd(pd, &d, hint);
}

int cm_reorder_pd(dnnl_primitive_desc_t *pd, const dnnl_memory_desc_t *src,
	const dnnl_memory_desc_t *dst, int sum) {
	dnnl_primitive_attr_t attr = make_attr(sum, 0, NULL);
	dnnl_status_t s = dnnl_reorder_primitive_desc_create(pd, src, g_eng, dst, g_eng, attr);
	dnnl_primitive_attr_destroy(attr);
	return (int)s;
}

const char *cm_impl(dnnl_primitive_desc_t pd) {
	const char *info = NULL;
	if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info) != dnnl_success) return "?";
	return info;
}

void cm_fold_bn(float *wout, float *bout, const float *w, const float *b, const float *gamma,
	const float *beta, const float *mean, const float *var, float eps, int64_t o, int64_t per) {
	for (int64_t i = 0; i < o; i++) {
		float s = gamma[i] / sqrtf(var[i] + eps);
		for (int64_t j = 0; j < per; j++) wout[i * per + j] = w[i * per + j] * s;
		bout[i] = beta[i] - mean[i] * s + (b ? b[i] * s : 0.0f);
	}
}

void cm_running_update(float *rm, float *rv, const float *m, const float *v, int64_t c,
	float momentum, float unbias) {
	for (int64_t i = 0; i < c; i++) {
		rm[i] = (1 - momentum) * rm[i] + momentum * m[i];
		rv[i] = (1 - momentum) * rv[i] + momentum * v[i] * unbias;
	}
}

void *cm_map(size_t size) {
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void cm_unmap(void *p, size_t size) { munmap(p, size); }

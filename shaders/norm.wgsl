// Batch normalisation over x viewed as [N, C, S] (S = H * W, or 1 for BatchNorm1d).
//
// Bindings (group 0), each entry point using some of them:
//   0  p             uniform Params
//   1  x             storage read        N * C * S
//   2  mean          storage read_write  C (written by batch_stats)
//   3  var           storage read_write  C, biased: divided by N * S (written by batch_stats)
//   4  gamma         storage read        C
//   5  beta          storage read        C
//   6  dy            storage read        N * C * S
//   7  running_mean  storage read_write  C
//   8  running_var   storage read_write  C
//   9  sum_dy        storage read_write  C
//   10 sum_dy_xhat   storage read_write  C
//   11 out           storage read_write  N * C * S
//   15 packed        storage read_write  2 C vec4s, with PACKED (training mode): per channel
//                    (mean, 1 / std, gamma, beta), written by batch_stats, and (sum dy / M,
//                    sum dy xhat / M, 0, 0), written by batch_norm_sums, so the per-element
//                    passes load a channel's constants in one or two vec4s, not four to six
//                    values (each load a loop over the lanes on software rasterisers)
//   12-14            x, dy and out seen as vec4s (the _wide entry points, for S % 4 == 0;
//                    the per-element ones also with STRADDLE for 4 <= S < 64, N C S % 4 == 0)
//
// batch_stats: one workgroup of GROUP per channel: 256 on GPUs, 64 on software rasterisers,
//   where each of the reduction's barriers costs a pass over the workgroup's SIMD chunks (64
//   ran the statistics 2.5x faster than 256 on llvmpipe). Each thread keeps Welford's running mean
//   and sum of squared deviations over its share of the channel; the workgroup merges them
//   pairwise (Chan et al.), which is accurate where sum(x^2) - sum(x)^2 is not. It also
//   moves the running estimates: r = (1 - momentum) r + momentum * (batch value), with the
//   unbiased variance for the running one (as PyTorch). batch_stats_columns and
//   batch_norm_sums_columns do the same for S == 1 with one thread per channel.
// batch_normalize: y = (x - mean) / sqrt(var + eps) * gamma + beta, then with SLOPE != 1 a
//   leaky rectifier of that slope (0: ReLU) in the same pass; the backward kernels then take
//   dy through the rectifier first, its side recomputed from x.
// batch_norm_sums: per channel, sum dy and sum dy * xhat (xhat recomputed from x).
// batch_norm_input_grad: dx = gamma / sqrt(var + eps) * (dy - sum dy / M - xhat * sum(dy
//   xhat) / M), M = N * S.
// The two per-element passes run one thread per element, or with PER_PLANE one workgroup per
// plane (image, channel) whose THREADS threads walk it: the channel's values are then loaded
// once per thread instead of once per element, which on software rasterisers (a loop over the
// lanes per load) is most of the pass. The host picks PER_PLANE for planes of 64 or more.

struct Params {
    n: u32,
    c: u32,
    s: u32,
    eps: f32,
    momentum: f32,
}

override GROUP: u32 = 256u;   // threads per channel of batch_stats and batch_norm_sums, <= 256
override THREADS: u32 = 256u; // workgroup size of batch_normalize and batch_norm_input_grad
override PER_PLANE: bool = false;
override SLOPE: f32 = 1.0;    // the fused rectifier's slope below 0 (1: none)
override STRADDLE: bool = false;
override PACKED: bool = false; // _wide per-element passes where a vec4 can span two planes

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> var_: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(8) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(9) var<storage, read_write> sum_dy: array<f32>;
@group(0) @binding(10) var<storage, read_write> sum_dy_xhat: array<f32>;
@group(0) @binding(11) var<storage, read_write> out: array<f32>;
@group(0) @binding(15) var<storage, read_write> packed: array<vec4f>;

var<workgroup> part_n: array<f32, 256>;
var<workgroup> part_a: array<f32, 256>;
var<workgroup> part_b: array<f32, 256>;

// Index of the i-th element (0 <= i < N * S) of channel ch.
fn channel_element(ch: u32, i: u32) -> u32 {
    let ns = div_rem(i, p.s);
    return (ns.x * p.c + ch) * p.s + ns.y;
}

// Welford's running (count, mean, sum of squared deviations) after value v.
fn welford(acc: vec3f, v: f32) -> vec3f {
    let count = acc.x + 1.0;
    let delta = v - acc.y;
    let m = acc.y + delta / count;
    return vec3f(count, m, acc.z + delta * (v - m));
}

// Merges the workgroup's Welford triples (Chan et al.) and, in thread 0, writes the channel's
// batch statistics and moves its running estimates.
fn finish_stats(ch: u32, lid: u32, acc: vec3f) {
    part_n[lid] = acc.x;
    part_a[lid] = acc.y;
    part_b[lid] = acc.z;
    workgroupBarrier();
    for (var half = GROUP / 2u; half > 0u; half >>= 1u) {
        if lid < half {
            let na = part_n[lid];
            let nb = part_n[lid + half];
            let nab = na + nb;
            if nb > 0.0 {
                let delta = part_a[lid + half] - part_a[lid];
                part_a[lid] += delta * nb / nab;
                part_b[lid] += part_b[lid + half] + delta * delta * na * nb / nab;
                part_n[lid] = nab;
            }
        }
        workgroupBarrier();
    }
    if lid == 0u {
        store_stats(ch, part_a[0], part_b[0]);
    }
}

// Writes channel ch's batch mean and biased variance from its mean and sum of squared
// deviations m2, and moves its running estimates.
fn store_stats(ch: u32, batch_mean: f32, m2: f32) {
    let total = f32(p.n * p.s);
    mean[ch] = batch_mean;
    var_[ch] = m2 / total;
    let unbiased = m2 / max(total - 1.0, 1.0);
    running_mean[ch] = (1.0 - p.momentum) * running_mean[ch] + p.momentum * batch_mean;
    running_var[ch] = (1.0 - p.momentum) * running_var[ch] + p.momentum * unbiased;
    if PACKED {
        packed[2u * ch] = vec4f(batch_mean, inverseSqrt(m2 / total + p.eps), gamma[ch], beta[ch]);
    }
}

// BatchNorm1d (S == 1): one thread per channel walks its N values, which neighbouring lanes
// read side by side; a workgroup per channel would spend its time in the reduction's barriers.
@compute @workgroup_size(64)
fn batch_stats_columns(@builtin(global_invocation_id) gid: vec3u) {
    let ch = gid.x;
    if ch >= p.c { return; }
    var acc = vec3f(0.0);
    for (var b = 0u; b < p.n; b++) {
        acc = welford(acc, x[b * p.c + ch]);
    }
    store_stats(ch, acc.y, acc.z);
}

@compute @workgroup_size(GROUP)
fn batch_stats(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x;
    var acc = vec3f(0.0);
    for (var i = lid; i < p.n * p.s; i += GROUP) {
        acc = welford(acc, x[channel_element(ch, i)]);
    }
    finish_stats(ch, lid, acc);
}

fn channel_of(i: u32) -> u32 {
    return div_rem(div_rem(i, p.s).x, p.c).y;
}

// The elements [first, first + count) at a stride of step that this thread handles, and their
// channel: a whole plane per workgroup, or one element per thread. With STRADDLE, components
// from `next_from` on of the thread's vec4 are in the next plane, of channel next_ch.
struct Share {
    first: u32,
    count: u32,
    step: u32,
    ch: u32,
    next_ch: u32,
    next_from: u32,
}

// Units are single values, or vec4s (unit 4) in the _wide entry points.
fn share(wid: vec3u, nwg: vec3u, lid: u32, unit: u32) -> Share {
    let group = wid.x + wid.y * nwg.x;
    let plane = p.s / unit;
    if PER_PLANE {
        if group >= p.n * p.c { return Share(0u, 0u, 1u, 0u, 0u, 4u); }
        let first = group * plane + lid;
        let count = select(0u, (plane - lid + THREADS - 1u) / THREADS, lid < plane);
        let ch = div_rem(group, p.c).y;
        return Share(first, count, THREADS, ch, ch, 4u);
    }
    let i = group * THREADS + lid;
    if i >= p.n * p.c * p.s / unit { return Share(0u, 0u, 1u, 0u, 0u, 4u); }
    let ch = channel_of(i * unit);
    if STRADDLE {
        // Planes of at least 4 values: the vec4 reaches at most one plane further, the one its
        // last value is in, at position last.y.
        let last = div_rem(i * unit + 3u, p.s);
        return Share(i, 1u, 1u, ch, div_rem(last.x, p.c).y, 3u - min(last.y, 3u));
    }
    return Share(i, 1u, 1u, ch, ch, 4u);
}

// The components of a thread's vec4 that are in the next plane.
fn in_next_plane(my: Share) -> vec4<bool> {
    return vec4u(0u, 1u, 2u, 3u) >= vec4u(my.next_from);
}

// (mean, 1 / std, gamma, beta) of channel ch.
fn normalize_constants(ch: u32) -> vec4f {
    if PACKED {
        return packed[2u * ch];
    }
    return vec4f(mean[ch], inverseSqrt(var_[ch] + p.eps), gamma[ch], beta[ch]);
}

// gamma xhat + beta before the rectifier, for k as normalize_constants gives.
fn affine(v: vec4f, k: vec4f) -> vec4f {
    return (v - k.x) * k.y * k.z + k.w;
}

fn normalized(v: vec4f, k: vec4f) -> vec4f {
    let y = affine(v, k);
    return select(SLOPE * y, y, y > vec4f(0.0));
}

// dy through the fused rectifier, for x whose normalized value is y (k as normalized's).
fn rectified_grad(v: vec4f, g: vec4f, k: vec4f) -> vec4f {
    if SLOPE == 1.0 {
        return g;
    }
    return g * select(vec4f(SLOPE), vec4f(1.0), affine(v, k) > vec4f(0.0));
}

@compute @workgroup_size(THREADS)
fn batch_normalize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
    let my = share(wid, nwg, lid, 1u);
    if my.count == 0u { return; }
    let k = normalize_constants(my.ch);
    for (var j = 0u; j < my.count; j++) {
        let i = my.first + j * my.step;
        out[i] = normalized(vec4f(x[i]), k).x;
    }
}

// Adds value v with incoming gradient g (past the rectifier) to (sum dy, sum dy xhat); k as
// normalized's.
fn gradient_sums(acc: vec2f, v: f32, g: f32, k: vec4f) -> vec2f {
    return acc + vec2f(g, g * (v - k.x) * k.y);
}

// Sums the workgroup's partial sums; thread 0 writes the channel's.
fn finish_sums(ch: u32, lid: u32, acc: vec2f) {
    part_a[lid] = acc.x;
    part_b[lid] = acc.y;
    workgroupBarrier();
    for (var half = GROUP / 2u; half > 0u; half >>= 1u) {
        if lid < half {
            part_a[lid] += part_a[lid + half];
            part_b[lid] += part_b[lid + half];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        store_sums(ch, vec2f(part_a[0], part_b[0]));
    }
}

// Writes channel ch's (sum dy, sum dy xhat).
fn store_sums(ch: u32, sums: vec2f) {
    sum_dy[ch] = sums.x;
    sum_dy_xhat[ch] = sums.y;
    if PACKED {
        packed[2u * ch + 1u] = vec4f(sums / f32(p.n * p.s), 0.0, 0.0);
    }
}

@compute @workgroup_size(GROUP)
fn batch_norm_sums(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x;
    let k = normalize_constants(ch);
    var acc = vec2f(0.0);
    for (var i = lid; i < p.n * p.s; i += GROUP) {
        let at = channel_element(ch, i);
        let v = x[at];
        acc = gradient_sums(acc, v, rectified_grad(vec4f(v), vec4f(dy[at]), k).x, k);
    }
    finish_sums(ch, lid, acc);
}

@compute @workgroup_size(64)
fn batch_norm_sums_columns(@builtin(global_invocation_id) gid: vec3u) {
    let ch = gid.x;
    if ch >= p.c { return; }
    let k = normalize_constants(ch);
    var acc = vec2f(0.0);
    for (var b = 0u; b < p.n; b++) {
        let v = x[b * p.c + ch];
        acc = gradient_sums(acc, v, rectified_grad(vec4f(v), vec4f(dy[b * p.c + ch]), k).x, k);
    }
    store_sums(ch, acc);
}

// Channel ch's constants of batch_norm_input_grad.
struct GradConstants {
    norm: vec4f,         // normalize_constants: (mean, 1 / std, gamma, beta)
    scale: f32,          // gamma / std
    means: vec2f,        // (sum dy, sum dy xhat) / M
}

fn input_grad_constants(ch: u32) -> GradConstants {
    let norm = normalize_constants(ch);
    var means: vec2f;
    if PACKED {
        means = packed[2u * ch + 1u].xy;
    } else {
        means = vec2f(sum_dy[ch], sum_dy_xhat[ch]) / f32(p.n * p.s);
    }
    return GradConstants(norm, norm.z * norm.y, means);
}

fn input_grad(v: vec4f, g: vec4f, k: GradConstants) -> vec4f {
    let xhat = (v - k.norm.x) * k.norm.y;
    let through = rectified_grad(v, g, k.norm);
    return k.scale * (through - k.means.x - xhat * k.means.y);
}

@compute @workgroup_size(THREADS)
fn batch_norm_input_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_index) lid: u32) {
    let my = share(wid, nwg, lid, 1u);
    if my.count == 0u { return; }
    let k = input_grad_constants(my.ch);
    for (var j = 0u; j < my.count; j++) {
        let i = my.first + j * my.step;
        out[i] = input_grad(vec4f(x[i]), vec4f(dy[i]), k).x;
    }
}

// Four values per load where planes are whole vec4s (S % 4 == 0): the per-element passes
// shared out as the scalar ones with vec4s for values, the reductions with each thread walking
// vec4s.
@group(0) @binding(12) var<storage, read> x4: array<vec4f>;
@group(0) @binding(13) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(14) var<storage, read_write> out4: array<vec4f>;

// Index of the i-th vec4 (0 <= i < N * S / 4) of channel ch.
fn channel_quad(ch: u32, i: u32) -> u32 {
    let ns = div_rem(i, p.s / 4u);
    return (ns.x * p.c + ch) * (p.s / 4u) + ns.y;
}

// The reductions' i-th vec4 of channel ch and which of its values are the channel's. With
// STRADDLE (planes that are not whole vec4s) each plane is read through the aligned vec4s
// that cover it, (S + 6) / 4 of them at most, the values of neighbouring planes masked: a
// third of the loads of reading its values one by one.
struct ChannelQuad {
    at: u32,
    mine: vec4<bool>,
}

fn reduction_quads() -> u32 {
    return p.n * select(p.s / 4u, (p.s + 6u) / 4u, STRADDLE);
}

fn reduction_quad(ch: u32, i: u32) -> ChannelQuad {
    if !STRADDLE {
        return ChannelQuad(channel_quad(ch, i), vec4<bool>(true));
    }
    let run = div_rem(i, (p.s + 6u) / 4u);
    let start = (run.x * p.c + ch) * p.s;
    let quad = start / 4u + run.y;
    let values = 4u * quad + vec4u(0u, 1u, 2u, 3u);
    let mine = values >= vec4u(start) & values < vec4u(start + p.s);
    // A vec4 past the tensor's end holds none of the channel's values.
    return ChannelQuad(min(quad, p.n * p.c * p.s / 4u - 1u), mine);
}

fn welford_if(acc: vec3f, v: f32, mine: bool) -> vec3f {
    return select(acc, welford(acc, v), mine);
}

// This thread's Welford triple over its share of channel ch's vec4s.
fn channel_stats(ch: u32, lid: u32) -> vec3f {
    var acc = vec3f(0.0);
    for (var i = lid; i < reduction_quads(); i += GROUP) {
        let q = reduction_quad(ch, i);
        let v = x4[q.at];
        acc = welford_if(welford_if(acc, v.x, q.mine.x), v.y, q.mine.y);
        acc = welford_if(welford_if(acc, v.z, q.mine.z), v.w, q.mine.w);
    }
    return acc;
}

@compute @workgroup_size(GROUP)
fn batch_stats_wide(@builtin(workgroup_id) wid: vec3u,
                    @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x;
    finish_stats(ch, lid, channel_stats(ch, lid));
}

@compute @workgroup_size(THREADS)
fn batch_normalize_wide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                        @builtin(local_invocation_index) lid: u32) {
    let my = share(wid, nwg, lid, 4u);
    if my.count == 0u { return; }
    let k = normalize_constants(my.ch);
    for (var j = 0u; j < my.count; j++) {
        let i = my.first + j * my.step;
        let v = x4[i];
        var y = normalized(v, k);
        if STRADDLE {
            y = select(y, normalized(v, normalize_constants(my.next_ch)), in_next_plane(my));
        }
        out4[i] = y;
    }
}

// This thread's (sum dy, sum dy xhat) over its share of channel ch's vec4s; k as
// normalized's.
fn channel_sums(ch: u32, lid: u32, k: vec4f) -> vec2f {
    var acc = vec2f(0.0);
    for (var i = lid; i < reduction_quads(); i += GROUP) {
        let q = reduction_quad(ch, i);
        let v = x4[q.at];
        // Other planes' values (masked) must not reach the sums, even as 0 times a NaN.
        let g = select(vec4f(0.0), rectified_grad(v, dy4[q.at], k), q.mine);
        let x = select(vec4f(k.x), v, q.mine);
        acc = gradient_sums(gradient_sums(acc, x.x, g.x, k), x.y, g.y, k);
        acc = gradient_sums(gradient_sums(acc, x.z, g.z, k), x.w, g.w, k);
    }
    return acc;
}

@compute @workgroup_size(GROUP)
fn batch_norm_sums_wide(@builtin(workgroup_id) wid: vec3u,
                        @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x;
    finish_sums(ch, lid, channel_sums(ch, lid, normalize_constants(ch)));
}

@compute @workgroup_size(THREADS)
fn batch_norm_input_grad_wide(@builtin(workgroup_id) wid: vec3u,
                              @builtin(num_workgroups) nwg: vec3u,
                              @builtin(local_invocation_index) lid: u32) {
    let my = share(wid, nwg, lid, 4u);
    if my.count == 0u { return; }
    let k = input_grad_constants(my.ch);
    for (var j = 0u; j < my.count; j++) {
        let i = my.first + j * my.step;
        let v = x4[i];
        let g = dy4[i];
        var dx = input_grad(v, g, k);
        if STRADDLE {
            dx = select(dx, input_grad(v, g, input_grad_constants(my.next_ch)),
                        in_next_plane(my));
        }
        out4[i] = dx;
    }
}

// The fused passes (software rasterisers, training mode, planes of at least 4 values in a
// tensor of whole vec4s): one workgroup of GROUP per channel reduces the channel, then walks it
// again to write it, the constants from the reduction shared in workgroup memory. One dispatch
// where there were two, and the second walk finds the channel's values in the core's cache; a
// GPU would leave most of its cores idle with a workgroup per channel, so it keeps the separate
// passes. With STRADDLE the vec4s that also hold another channel's values are written value by
// value (binding 11, out, is the same buffer as out4), each workgroup only its own.
// batch_norm_train_wide: batch_stats_wide then batch_normalize_wide.
// batch_norm_grad_wide: batch_norm_sums_wide then batch_norm_input_grad_wide.
var<workgroup> shared_constants: vec4f;

// The vec4 holding the first (edge 0) or last (edge 1) values of plane b of channel ch, and
// which of its values are the plane's.
fn plane_edge(ch: u32, b: u32, edge: u32) -> ChannelQuad {
    let start = (b * p.c + ch) * p.s;
    let quad = select(start, start + p.s - 1u, edge == 1u) / 4u;
    let values = 4u * quad + vec4u(0u, 1u, 2u, 3u);
    return ChannelQuad(quad, values >= vec4u(start) & values < vec4u(start + p.s));
}

// Writes the channel's results (channel_result): vec4s wholly the channel's in one store,
// with STRADDLE the ones it shares with a neighbouring plane (the planes' edges) value by
// value.
fn write_channel(ch: u32, lid: u32, k: vec4f, means: vec2f) {
    for (var i = lid; i < reduction_quads(); i += GROUP) {
        let q = reduction_quad(ch, i);
        if all(q.mine) {
            out4[q.at] = channel_result(q.at, k, means);
        }
    }
    if STRADDLE {
        for (var j = lid; j < 2u * p.n; j += GROUP) {
            let q = plane_edge(ch, j / 2u, j % 2u);
            if !all(q.mine) {
                let v = channel_result(q.at, k, means);
                for (var c = 0u; c < 4u; c++) {
                    if q.mine[c] {
                        out[4u * q.at + c] = v[c];
                    }
                }
            }
        }
    }
}

override GRADIENT: bool = false;  // write_channel's results: input gradients, not outputs

fn channel_result(at: u32, k: vec4f, means: vec2f) -> vec4f {
    if GRADIENT {
        return input_grad(x4[at], dy4[at], GradConstants(k, k.z * k.y, means));
    }
    return normalized(x4[at], k);
}

@compute @workgroup_size(GROUP)
fn batch_norm_train_wide(@builtin(workgroup_id) wid: vec3u,
                         @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x;
    finish_stats(ch, lid, channel_stats(ch, lid));
    if lid == 0u {
        let inv_std = inverseSqrt(part_b[0] / f32(p.n * p.s) + p.eps);
        shared_constants = vec4f(part_a[0], inv_std, gamma[ch], beta[ch]);
    }
    write_channel(ch, lid, workgroupUniformLoad(&shared_constants), vec2f(0.0));
}

@compute @workgroup_size(GROUP)
fn batch_norm_grad_wide(@builtin(workgroup_id) wid: vec3u,
                        @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x;
    let k = normalize_constants(ch);
    finish_sums(ch, lid, channel_sums(ch, lid, k));
    if lid == 0u {
        shared_constants = vec4f(vec2f(part_a[0], part_b[0]) / f32(p.n * p.s), 0.0, 0.0);
    }
    write_channel(ch, lid, k, workgroupUniformLoad(&shared_constants).xy);
}

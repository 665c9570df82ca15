// Separable Gaussian blur of NCHW planes, one 1-D pass along x or y per dispatch, with the
// reflect border (mirror about the edge pixel, which is not repeated: ... 2 1 | 0 1 2 ...,
// numpy's and PyTorch's "reflect", OpenCV's BORDER_REFLECT_101; repeated for radii past
// the image, and a 1-pixel axis reflects onto itself):
//   out[i] = sum_{t=-r..r} w[t] x[mirror(i + t)]        along the pass's axis
// and its transpose for the gradient:
//   dx[j] = sum_i dy[i] * (sum of w[t] over t with mirror(i + t) = j)
//
// Bindings (group 0):
//   0  p     uniform Params
//   1  x     storage read        planes * h * w (dy for the gradient)
//   2  taps  storage read        2r + 1 weights, w[-r] first
//   3  out   storage read_write  planes * h * w
//
// A workgroup of 16 x 16 threads owns a 16 x 16 tile of outputs. It first stages the tile
// and r pixels of halo on both sides along the pass's axis in workgroup memory (reads
// mirrored into the image, so the border needs no test later), then each thread combines
// 2r + 1 staged values.
// Grid: (ceil(w / 16), ceil(h / 16), planes). Radius at most 32.

struct Params {
    h: u32,
    w: u32,
    radius: u32,
}

override VERTICAL: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> taps: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const TILE: u32 = 16u;
const MAX_RADIUS: u32 = 32u;
const SPAN: u32 = TILE + 2u * MAX_RADIUS;   // staged pixels along the axis

var<workgroup> staged: array<f32, 1280>;    // [TILE across][SPAN along]

// Stages, for the 16 lines of this tile, the pixels along the axis from the tile start
// minus r to the tile end plus r, clamped into the image.
fn stage(plane: u32, origin: vec2u, lid: vec2u) {
    let along_size = select(p.w, p.h, VERTICAL);
    let span = TILE + 2u * p.radius;
    for (var s = lid.x; s < span; s += TILE) {
        let along = i32(select(origin.x, origin.y, VERTICAL)) + i32(s) - i32(p.radius);
        let a = u32(mirror(along, i32(along_size)));
        let across = select(origin.y + lid.y, origin.x + lid.y, VERTICAL);
        let across_size = select(p.h, p.w, VERTICAL);
        let c = min(across, across_size - 1u);
        let index = select(c * p.w + a, a * p.w + c, VERTICAL);
        staged[lid.y * SPAN + s] = x[plane * p.h * p.w + index];
    }
}

// This thread's output position: (along, across) -> (x, y).
fn position(origin: vec2u, lid: vec2u) -> vec2u {
    if VERTICAL {
        return vec2u(origin.x + lid.y, origin.y + lid.x);
    }
    return vec2u(origin.x + lid.x, origin.y + lid.y);
}

// Stages this workgroup's tile with its halo; every thread calls it, as the barrier needs.
fn stage_tile(wid: vec3u, lid: vec2u) -> vec2u {
    let origin = wid.xy * TILE;
    stage(wid.z, origin, lid);
    workgroupBarrier();
    return position(origin, lid);
}

@compute @workgroup_size(16, 16)
fn blur_pass(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u) {
    let lid = lid3.xy;
    let at = stage_tile(wid, lid);
    if at.x >= p.w || at.y >= p.h { return; }
    var sum = 0.0;
    for (var t = 0u; t <= 2u * p.radius; t++) {
        sum += taps[t] * staged[lid.y * SPAN + lid.x + t];
    }
    out[(wid.z * p.h + at.y) * p.w + at.x] = sum;
}

@compute @workgroup_size(16, 16)
fn blur_pass_grad(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u) {
    let lid = lid3.xy;
    let at = stage_tile(wid, lid);
    if at.x >= p.w || at.y >= p.h { return; }
    let n = i32(select(p.w, p.h, VERTICAL));
    let j = i32(select(at.x, at.y, VERTICAL));
    let r = i32(p.radius);
    var sum = 0.0;
    // Only outputs i in [j - r, j + r] read j, also through the mirror; staged holds dy[i]
    // at lid.x + (i - j) + r.
    for (var i = max(j - r, 0); i <= min(j + r, n - 1); i++) {
        var weight = 0.0;
        for (var t = -r; t <= r; t++) {
            if mirror(i + t, n) == j { weight += taps[u32(t + r)]; }
        }
        sum += weight * staged[lid.y * SPAN + u32(i32(lid.x) + i - j + r)];
    }
    out[(wid.z * p.h + at.y) * p.w + at.x] = sum;
}

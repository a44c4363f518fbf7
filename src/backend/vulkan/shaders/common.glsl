// Shared by every kernel: five storage buffers, dst and src0..src3 of the
// node (each bound whole; the push constants give each tensor's first
// element), and one push-constant block.
#extension GL_GOOGLE_include_directive : require
layout(std430, binding = 0) buffer B0 { float b0[]; };
layout(std430, binding = 1) readonly buffer B1 { float b1[]; };
layout(std430, binding = 2) readonly buffer B2 { float b2[]; };
layout(std430, binding = 3) readonly buffer B3 { float b3[]; };
layout(std430, binding = 4) readonly buffer B4 { float b4[]; };

layout(push_constant) uniform Params {
    uint off0, off1, off2, off3, off4; // first element of dst, src0 .. src3
    uint ne0, ne1, ne2, ne3;     // dst's shape
    uint bn0, bn1, bn2, bn3;     // src1's shape (broadcast where 1)
    uint op;                     // kernel-specific selector
    uint act;                    // ia_act
    float f;                     // scale or eps
    uint flags;                  // kernel-specific bits
} p;

// erf by Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7).
float erf_as(float x)
{
    float t = 1.0 / (1.0 + 0.3275911 * abs(x));
    float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
    return x < 0.0 ? -y : y;
}

// ia_act: 0 none, 1 gelu (erf), 2 gelu (tanh), 3 relu, 4 silu
float activate(float x, uint act)
{
    if (act == 1u)
        return 0.5 * x * (1.0 + erf_as(x * 0.70710678118654752));
    if (act == 2u) {
        float u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
        return 0.5 * x * (1.0 + tanh(clamp(u, -15.0, 15.0)));
    }
    if (act == 3u)
        return max(x, 0.0);
    if (act == 4u)
        return x / (1.0 + exp(-x));
    return x;
}

/*
 * The Vulkan backend: compute shaders (GLSL in shaders/, compiled to SPIR-V
 * by glslc at build time and embedded) on every Vulkan 1.2 device the
 * loader reports, Mesa's lavapipe included. The loader (libvulkan.so.1) is
 * opened at run time, so a machine without it runs everything else and
 * this backend reports no device.
 *
 * It computes, in f32 (matmuls also in fp16): matmul (weights in f32, f16,
 * bf16, i8 and the k-quants dequantized as read, q8_0, q4_0 and q4_1 blocks
 * against activations quantized as the CPU backend quantizes them, so the
 * two multiply the same integers), add, mul,
 * scale, the activations, GLU, softmax, LayerNorm, RMSNorm, rope, attention
 * (packed sequences, any mask, grouped heads, f32 or f16 keys and values,
 * a relative-position bias), get_rows and copies; the scheduler (sched.c)
 * runs the other nodes on the CPU. Tensors live in device-local memory
 * (a discrete GPU, or IA_VULKAN_MEMORY=device), named by reserved address
 * ranges and moved by upload/download through a staging buffer, or in
 * host-visible mapped memory (a tensor's data pointer is its place in the
 * mapping). One graph_compute records every node of the graph in one
 * command buffer, with a barrier between nodes, and submits it once.
 */
#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend-impl.h"
#include "core/core-impl.h"
#include "tensor/dtype.h"

static const uint32_t spv_eltwise[] =
#include "eltwise.spv.inc"
    ;
static const uint32_t spv_matmul[] =
#include "matmul.spv.inc"
    ;
static const uint32_t spv_matmul_f16[] =
#include "matmul_f16.spv.inc"
    ;
static const uint32_t spv_matmul_f16_x16[] =
#include "matmul_f16_x16.spv.inc"
    ;
static const uint32_t spv_matmul_bf16[] =
#include "matmul_bf16.spv.inc"
    ;
static const uint32_t spv_matvec[] =
#include "matvec.spv.inc"
    ;
static const uint32_t spv_matvec_f16[] =
#include "matvec_f16.spv.inc"
    ;
static const uint32_t spv_matvec_f16_x16[] =
#include "matvec_f16_x16.spv.inc"
    ;
static const uint32_t spv_matvec_bf16[] =
#include "matvec_bf16.spv.inc"
    ;
static const uint32_t spv_quant_q8[] =
#include "quant_q8.spv.inc"
    ;
static const uint32_t spv_matmul_q8_0[] =
#include "matmul_q8_0.spv.inc"
    ;
static const uint32_t spv_matmul_q4_0[] =
#include "matmul_q4_0.spv.inc"
    ;
static const uint32_t spv_matmul_q4_1[] =
#include "matmul_q.spv.inc"
    ;
static const uint32_t spv_rows[] =
#include "rows.spv.inc"
    ;
static const uint32_t spv_attention[] =
#include "attention.spv.inc"
    ;
static const uint32_t spv_attention_f16[] =
#include "attention_f16.spv.inc"
    ;
static const uint32_t spv_get_rows[] =
#include "get_rows.spv.inc"
    ;
static const uint32_t spv_rope[] =
#include "rope.spv.inc"
    ;
static const uint32_t spv_matmul_i8[] =
#include "matmul_i8.spv.inc"
    ;
static const uint32_t spv_matmul_q4_K[] =
#include "matmul_q4_K.spv.inc"
    ;
static const uint32_t spv_matmul_q5_K[] =
#include "matmul_q5_K.spv.inc"
    ;
static const uint32_t spv_matmul_q6_K[] =
#include "matmul_q6_K.spv.inc"
    ;
static const uint32_t spv_get_rows_f16[] =
#include "get_rows_f16.spv.inc"
    ;
static const uint32_t spv_get_rows_bf16[] =
#include "get_rows_bf16.spv.inc"
    ;
static const uint32_t spv_get_rows_q8_0[] =
#include "get_rows_q8_0.spv.inc"
    ;
static const uint32_t spv_get_rows_q4_0[] =
#include "get_rows_q4_0.spv.inc"
    ;
static const uint32_t spv_get_rows_q4_1[] =
#include "get_rows_q4_1.spv.inc"
    ;
static const uint32_t spv_get_rows_q4_K[] =
#include "get_rows_q4_K.spv.inc"
    ;
static const uint32_t spv_get_rows_q5_K[] =
#include "get_rows_q5_K.spv.inc"
    ;
static const uint32_t spv_get_rows_q6_K[] =
#include "get_rows_q6_K.spv.inc"
    ;
static const uint32_t spv_get_rows_i8[] =
#include "get_rows_i8.spv.inc"
    ;
static const uint32_t spv_cpy_f16[] =
#include "cpy_f16.spv.inc"
    ;
static const uint32_t spv_cpy_bf16[] =
#include "cpy_bf16.spv.inc"
    ;
static const uint32_t spv_cpy_i8[] =
#include "cpy_i8.spv.inc"
    ;
static const uint32_t spv_cpy_q8_0[] =
#include "cpy_q8_0.spv.inc"
    ;
static const uint32_t spv_cpy_q4_0[] =
#include "cpy_q4_0.spv.inc"
    ;
static const uint32_t spv_cpy_q4_1[] =
#include "cpy_q4_1.spv.inc"
    ;
static const uint32_t spv_cpy_q4_K[] =
#include "cpy_q4_K.spv.inc"
    ;
static const uint32_t spv_cpy_q5_K[] =
#include "cpy_q5_K.spv.inc"
    ;
static const uint32_t spv_cpy_q6_K[] =
#include "cpy_q6_K.spv.inc"
    ;
static const uint32_t spv_cpy_half[] =
#include "cpy_half.spv.inc"
    ;
static const uint32_t spv_cpy_bf16_out[] =
#include "cpy_bf16_out.spv.inc"
    ;

enum {
    K_ELTWISE, K_MATMUL, K_MATMUL_F16, K_MATMUL_F16_X16, K_MATMUL_BF16, K_MATVEC, K_MATVEC_F16, K_MATVEC_F16_X16,
    K_MATVEC_BF16, K_QUANT_Q8, K_MATMUL_Q8_0, K_MATMUL_Q4_0, K_MATMUL_Q4_1,
    K_MATMUL_I8, K_MATMUL_Q4_K, K_MATMUL_Q5_K, K_MATMUL_Q6_K, K_ROWS, K_ATTENTION, K_ATTENTION_F16, K_GET_ROWS,
    K_GET_ROWS_F16, K_GET_ROWS_BF16, K_GET_ROWS_Q8_0, K_GET_ROWS_Q4_0, K_GET_ROWS_Q4_1, K_GET_ROWS_Q4_K,
    K_GET_ROWS_Q5_K, K_GET_ROWS_Q6_K, K_GET_ROWS_I8, K_CPY_F16, K_CPY_BF16, K_CPY_I8, K_CPY_Q8_0, K_CPY_Q4_0,
    K_CPY_Q4_1, K_CPY_Q4_K, K_CPY_Q5_K, K_CPY_Q6_K, K_CPY_TO_F16, K_CPY_TO_BF16, K_ROPE, K_COUNT
};
static const struct {
    const uint32_t *code;
    size_t size;
} kernels[K_COUNT] = {
    {spv_eltwise, sizeof spv_eltwise},
    {spv_matmul, sizeof spv_matmul},
    {spv_matmul_f16, sizeof spv_matmul_f16},
    {spv_matmul_f16_x16, sizeof spv_matmul_f16_x16},
    {spv_matmul_bf16, sizeof spv_matmul_bf16},
    {spv_matvec, sizeof spv_matvec},
    {spv_matvec_f16, sizeof spv_matvec_f16},
    {spv_matvec_f16_x16, sizeof spv_matvec_f16_x16},
    {spv_matvec_bf16, sizeof spv_matvec_bf16},
    {spv_quant_q8, sizeof spv_quant_q8},
    {spv_matmul_q8_0, sizeof spv_matmul_q8_0},
    {spv_matmul_q4_0, sizeof spv_matmul_q4_0},
    {spv_matmul_q4_1, sizeof spv_matmul_q4_1},
    {spv_matmul_i8, sizeof spv_matmul_i8},
    {spv_matmul_q4_K, sizeof spv_matmul_q4_K},
    {spv_matmul_q5_K, sizeof spv_matmul_q5_K},
    {spv_matmul_q6_K, sizeof spv_matmul_q6_K},
    {spv_rows, sizeof spv_rows},
    {spv_attention, sizeof spv_attention},
    {spv_attention_f16, sizeof spv_attention_f16},
    {spv_get_rows, sizeof spv_get_rows},
    {spv_get_rows_f16, sizeof spv_get_rows_f16},
    {spv_get_rows_bf16, sizeof spv_get_rows_bf16},
    {spv_get_rows_q8_0, sizeof spv_get_rows_q8_0},
    {spv_get_rows_q4_0, sizeof spv_get_rows_q4_0},
    {spv_get_rows_q4_1, sizeof spv_get_rows_q4_1},
    {spv_get_rows_q4_K, sizeof spv_get_rows_q4_K},
    {spv_get_rows_q5_K, sizeof spv_get_rows_q5_K},
    {spv_get_rows_q6_K, sizeof spv_get_rows_q6_K},
    {spv_get_rows_i8, sizeof spv_get_rows_i8},
    {spv_cpy_f16, sizeof spv_cpy_f16},
    {spv_cpy_bf16, sizeof spv_cpy_bf16},
    {spv_cpy_i8, sizeof spv_cpy_i8},
    {spv_cpy_q8_0, sizeof spv_cpy_q8_0},
    {spv_cpy_q4_0, sizeof spv_cpy_q4_0},
    {spv_cpy_q4_1, sizeof spv_cpy_q4_1},
    {spv_cpy_q4_K, sizeof spv_cpy_q4_K},
    {spv_cpy_q5_K, sizeof spv_cpy_q5_K},
    {spv_cpy_q6_K, sizeof spv_cpy_q6_K},
    {spv_cpy_half, sizeof spv_cpy_half},
    {spv_cpy_bf16_out, sizeof spv_cpy_bf16_out},
    {spv_rope, sizeof spv_rope},
};

/* The push constants of shaders/common.glsl, attention.comp, get_rows.comp
 * and rope.comp. */
typedef struct push {
    uint32_t off[5];
    uint32_t ne[4];
    uint32_t bn[4];
    uint32_t op, act;
    float f;
    uint32_t flags;
} push;
typedef struct push_attn {
    uint32_t off[5];
    uint32_t hd, H, Hk, nq, nkv;
    uint32_t qs1, qs2, ks1, ks2, vs1, vs2;
    uint32_t mask, window, n_seqs;
    int32_t pos_q0;
    float scale;
    uint32_t ob, span, bias; /* the position bias: per head, span floats from ob of binding 5 */
    int32_t rmin;            /* the relative position of its first */
} push_attn;
typedef struct push_rows {
    uint32_t od, ot, oi, ne0, n, rows, rb;
} push_rows;
typedef struct push_rope {
    uint32_t od, oa, op, of;
    uint32_t nh, nt, half_dims, n_dims, hd, neox;
    uint32_t as1, as2, ds1, ds2;
} push_rope;

/* MAX_KEYS: the keys a query sees at most (attention.comp's shared scores). */
/* MAX_ROPE_PAIRS: rope's frequencies the host computes at most. */
/* N_TENSOR: a node's dst and sources, bound 0..4; binding 5 holds the
 * host's tables where a kernel reads one (attention's position bias). */
enum { N_TENSOR = 5, N_BIND = 6, MAX_DEVICES = 8, MAX_KEYS = 2048, MAX_ROPE_PAIRS = 512, PUSH_BYTES = 128 };
enum { MATVEC_ROWS = 8 }; /* matmuls of fewer rows: matvec.comp */

/* The instance-level functions (vkGetInstanceProcAddr). */
#define INSTANCE_FNS(X) \
    X(vkEnumeratePhysicalDevices) \
    X(vkGetPhysicalDeviceProperties) \
    X(vkGetPhysicalDeviceMemoryProperties) \
    X(vkGetPhysicalDeviceQueueFamilyProperties) \
    X(vkCreateDevice) \
    X(vkGetDeviceProcAddr) \
    X(vkGetPhysicalDeviceProperties2) \
    X(vkGetPhysicalDeviceFeatures2) \
    X(vkEnumerateDeviceExtensionProperties)

/* Instance-level state: loaded once, kept for the process (the loader and
 * its drivers are never unloaded; see src/hw/gpu_api.c for why). */
static struct {
    pthread_once_t once;
    PFN_vkGetInstanceProcAddr gipa;
    VkInstance instance;
    uint32_t n_dev;
    VkPhysicalDevice dev[MAX_DEVICES];
    char name[MAX_DEVICES][VK_MAX_PHYSICAL_DEVICE_NAME_SIZE + 128];
    char why[256]; /* why there is no device */
#define DECLARE(f) PFN_##f f;
    INSTANCE_FNS(DECLARE)
#undef DECLARE
} vk = {.once = PTHREAD_ONCE_INIT};

static bool has_extension(VkPhysicalDevice d, const char *name)
{
    uint32_t n = 0;
    if (vk.vkEnumerateDeviceExtensionProperties(d, NULL, &n, NULL) != VK_SUCCESS || !n)
        return false;
    VkExtensionProperties *e = malloc(n * sizeof *e);
    bool found = false;
    if (e && vk.vkEnumerateDeviceExtensionProperties(d, NULL, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = !strcmp(e[i].extensionName, name);
    free(e);
    return found;
}

static void vk_probe(void)
{
    void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!lib) {
        snprintf(vk.why, sizeof vk.why, "no Vulkan loader (libvulkan.so.1): %s", dlerror());
        return;
    }
    vk.gipa = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
    PFN_vkCreateInstance create = vk.gipa ? (PFN_vkCreateInstance)vk.gipa(NULL, "vkCreateInstance") : NULL;
    if (!create) {
        snprintf(vk.why, sizeof vk.why, "libvulkan.so.1 lacks vkGetInstanceProcAddr / vkCreateInstance");
        return;
    }
    const VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                                   .pApplicationName = "ipfs-accelerate",
                                   .pEngineName = "ipfs-accelerate",
                                   .apiVersion = VK_API_VERSION_1_2};
    const VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    VkResult r = create(&ci, NULL, &vk.instance);
    if (r != VK_SUCCESS) {
        snprintf(vk.why, sizeof vk.why, "vkCreateInstance failed (VkResult %d%s)", (int)r,
                 r == VK_ERROR_INCOMPATIBLE_DRIVER ? ": no Vulkan 1.2 driver installed" : "");
        return;
    }
#define LOAD(f) vk.f = (PFN_##f)vk.gipa(vk.instance, #f);
    INSTANCE_FNS(LOAD)
#undef LOAD
    uint32_t n = MAX_DEVICES;
    r = vk.vkEnumeratePhysicalDevices(vk.instance, &n, vk.dev);
    if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || !n) {
        snprintf(vk.why, sizeof vk.why, "no Vulkan physical device (VkResult %d)", (int)r);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties pr;
        vk.vkGetPhysicalDeviceProperties(vk.dev[i], &pr);
        if (pr.apiVersion < VK_API_VERSION_1_2)
            continue; /* the shaders target Vulkan 1.2 */
        /* what later kernels can use: subgroup size, f16 and int8 in
         * shaders, int8 dot products, cooperative matrices */
        VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
        VkPhysicalDeviceProperties2 pr2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sg};
        VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
        VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
        if (vk.vkGetPhysicalDeviceProperties2 && vk.vkGetPhysicalDeviceFeatures2) {
            vk.vkGetPhysicalDeviceProperties2(vk.dev[i], &pr2);
            vk.vkGetPhysicalDeviceFeatures2(vk.dev[i], &f2);
        }
        static const char *const types[] = {"other", "integrated GPU", "discrete GPU", "virtual GPU", "CPU"};
        vk.dev[vk.n_dev] = vk.dev[i];
        snprintf(vk.name[vk.n_dev], sizeof vk.name[0],
                 "%s (%s; subgroup %u, fp16 %s, int8 %s, int8 dot %s, coopmat %s)", pr.deviceName,
                 pr.deviceType <= 4 ? types[pr.deviceType] : "unknown type", sg.subgroupSize,
                 f12.shaderFloat16 ? "yes" : "no", f12.shaderInt8 ? "yes" : "no",
                 has_extension(vk.dev[i], "VK_KHR_shader_integer_dot_product") ? "yes" : "no",
                 has_extension(vk.dev[i], "VK_KHR_cooperative_matrix") ? "yes" : "no");
        vk.n_dev++;
    }
    if (!vk.n_dev)
        snprintf(vk.why, sizeof vk.why, "%u Vulkan device%s, none with Vulkan 1.2", n, n == 1 ? "" : "s");
}

static void vk_init(void)
{
    vk_probe();
    if (!vk.n_dev)
        ia__log(IA_LOG_INFO, "vulkan backend: %s", vk.why);
}

static int device_count(void)
{
    pthread_once(&vk.once, vk_init);
    return (int)vk.n_dev;
}

static const char *device_name(int d)
{
    return d >= 0 && d < device_count() ? vk.name[d] : NULL;
}

/* fp32, or fp16: matmul weights stored in f16 and the activations rounded
 * to f16 where they enter a matmul, products summed in f32 (the numerics
 * of f16 matrix units); the other ops in f32. */
static const char *resolve_precision(const char *want)
{
    return !want ? NULL : !strcmp(want, "fp16") ? "fp16" : "fp32";
}

/* One allocation: a buffer bound to host-visible memory, mapped at map;
 * or (device) to device-local memory, map then an address range reserved
 * and inaccessible (PROT_NONE), which names the buffer's bytes to the
 * rest of the engine: tensors and views point into it, and only upload and
 * download (through a staging buffer) read or write it. */
typedef struct vbuf {
    char *map;
    size_t size;
    VkBuffer buf;
    VkDeviceMemory mem;
    bool device;
} vbuf;

/* The device-level functions, loaded per device (vkGetDeviceProcAddr). */
#define DEVICE_FNS(X) \
    X(vkDestroyDevice) \
    X(vkGetDeviceQueue) \
    X(vkCreateBuffer) \
    X(vkDestroyBuffer) \
    X(vkGetBufferMemoryRequirements) \
    X(vkAllocateMemory) \
    X(vkFreeMemory) \
    X(vkBindBufferMemory) \
    X(vkMapMemory) \
    X(vkCreateCommandPool) \
    X(vkDestroyCommandPool) \
    X(vkAllocateCommandBuffers) \
    X(vkBeginCommandBuffer) \
    X(vkEndCommandBuffer) \
    X(vkResetCommandBuffer) \
    X(vkCreateFence) \
    X(vkDestroyFence) \
    X(vkResetFences) \
    X(vkWaitForFences) \
    X(vkQueueSubmit) \
    X(vkCreateShaderModule) \
    X(vkDestroyShaderModule) \
    X(vkCreateDescriptorSetLayout) \
    X(vkDestroyDescriptorSetLayout) \
    X(vkCreatePipelineLayout) \
    X(vkDestroyPipelineLayout) \
    X(vkCreateComputePipelines) \
    X(vkDestroyPipeline) \
    X(vkCreateDescriptorPool) \
    X(vkDestroyDescriptorPool) \
    X(vkResetDescriptorPool) \
    X(vkAllocateDescriptorSets) \
    X(vkUpdateDescriptorSets) \
    X(vkCmdBindPipeline) \
    X(vkCmdBindDescriptorSets) \
    X(vkCmdPushConstants) \
    X(vkCmdDispatch) \
    X(vkCmdPipelineBarrier) \
    X(vkCmdCopyBuffer)

typedef struct ctx {
    pthread_mutex_t lock; /* one graph at a time; the buffer table */
    VkDevice dev;
    VkQueue queue;
    uint32_t mem_type;  /* host-visible, coherent */
    uint32_t dev_type;  /* device-local, for device_mem */
    bool device_mem;    /* tensors in device-local memory (a discrete GPU, or IA_VULKAN_MEMORY=device) */
    VkCommandPool pool;
    VkCommandBuffer cmd, xcmd; /* the graph's; transfers' */
    VkFence fence, xfence;
    vbuf staging;       /* transfers to and from device-local buffers */
    unsigned long n_up, n_down; /* transfers and their bytes, reported at close */
    uint64_t bytes_up, bytes_down;
    /* host_view's copies of device tensors, kept until the next upload or
     * graph: a decoder's 60 ropes read one positions tensor */
    struct { const void *ptr; size_t bytes; void *copy; } seen[8];
    int n_seen;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkDescriptorPool dpool;
    uint32_t dpool_sets;
    VkPipeline pipe[K_COUNT];
    vbuf *bufs;
    int n_bufs, cap_bufs;
    vbuf consts;        /* per graph: tables the host computes (rope's frequencies) */
    size_t consts_used; /* bytes */
    vbuf qact;          /* a matmul's activations quantized for block weights (quant_q8.comp) */
    /* Fault injection for the tests of the callers' fallback (env
     * IA_VULKAN_FAULT=alloc:N or submit:N): the Nth buffer allocation
     * fails as out of device memory, or the Nth graph as a lost device. */
    unsigned long fault_alloc, fault_submit, n_alloc, n_submit;
    bool fp16; /* precision fp16 (resolve_precision) */
#define DECLARE(f) PFN_##f f;
    DEVICE_FNS(DECLARE)
#undef DECLARE
} ctx;

static size_t page_round(size_t n)
{
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

static void vbuf_free(const ctx *c, const vbuf *b)
{
    c->vkDestroyBuffer(c->dev, b->buf, NULL);
    c->vkFreeMemory(c->dev, b->mem, NULL);
    if (b->device && b->map)
        munmap(b->map, page_round(b->size));
}

/* Forget host_view's copies (lock held). */
static void forget_seen(ctx *c)
{
    for (int i = 0; i < c->n_seen; i++)
        ia__free(c->seen[i].copy);
    c->n_seen = 0;
}

static void close_instance(void *p)
{
    ctx *c = p;
    if (!c)
        return;
    if (c->dev && c->vkDestroyDevice) { /* the device's functions are loaded */
        for (int i = 0; i < c->n_bufs; i++)
            vbuf_free(c, &c->bufs[i]);
        if (c->consts.buf)
            vbuf_free(c, &c->consts);
        if (c->qact.buf)
            vbuf_free(c, &c->qact);
        if (c->staging.buf)
            vbuf_free(c, &c->staging);
        forget_seen(c);
        if (c->n_up || c->n_down)
            ia__log(IA_LOG_INFO, "vulkan: %lu uploads (%.1f MiB), %lu downloads (%.1f MiB)%s", c->n_up,
                    c->bytes_up / 1048576.0, c->n_down, c->bytes_down / 1048576.0,
                    c->device_mem ? ", through staging into device-local memory" : ", copies within mapped memory");
        for (int k = 0; k < K_COUNT; k++)
            if (c->pipe[k])
                c->vkDestroyPipeline(c->dev, c->pipe[k], NULL);
        if (c->dpool)
            c->vkDestroyDescriptorPool(c->dev, c->dpool, NULL);
        if (c->layout)
            c->vkDestroyPipelineLayout(c->dev, c->layout, NULL);
        if (c->dsl)
            c->vkDestroyDescriptorSetLayout(c->dev, c->dsl, NULL);
        if (c->fence)
            c->vkDestroyFence(c->dev, c->fence, NULL);
        if (c->xfence)
            c->vkDestroyFence(c->dev, c->xfence, NULL);
        if (c->pool)
            c->vkDestroyCommandPool(c->dev, c->pool, NULL);
        c->vkDestroyDevice(c->dev, NULL);
    }
    free(c->bufs);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static ia_status vk_fail(ctx *c, VkResult r, const char *what)
{
    close_instance(c);
    return ia__error(r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? IA_ERR_NOMEM
                                                                                           : IA_ERR_BACKEND,
                     "vulkan backend: %s failed (VkResult %d)", what, (int)r);
}

static ia_status open_instance(int device, int n_threads, const char *precision, bool profile, void **out)
{
    (void)n_threads;
    (void)profile;
    *out = NULL;
    if (device < 0 || device >= device_count())
        return ia__error(IA_ERR_INVALID, "vulkan backend: no device %d (%d here%s%s)", device, device_count(),
                         vk.n_dev ? "" : ": ", vk.n_dev ? "" : vk.why);
    if (precision && strcmp(precision, "fp32") && strcmp(precision, "fp16"))
        return ia__error(IA_ERR_INVALID, "vulkan backend: precision %s: fp32 or fp16 only", precision);
    VkPhysicalDevice pd = vk.dev[device];
    uint32_t nq = 16;
    VkQueueFamilyProperties qf[16];
    vk.vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qf);
    uint32_t family = UINT32_MAX;
    for (uint32_t i = 0; i < nq && family == UINT32_MAX; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
            family = i;
    if (family == UINT32_MAX)
        return ia__error(IA_ERR_UNSUPPORTED, "vulkan backend: %s has no compute queue", vk.name[device]);
    VkPhysicalDeviceMemoryProperties mp;
    vk.vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t mem_type = UINT32_MAX;
    for (uint32_t i = 0; i < mp.memoryTypeCount && mem_type == UINT32_MAX; i++)
        if ((mp.memoryTypes[i].propertyFlags & want) == want)
            mem_type = i;
    if (mem_type == UINT32_MAX)
        return ia__error(IA_ERR_UNSUPPORTED, "vulkan backend: %s has no host-visible coherent memory",
                         vk.name[device]);
    /* device-local memory for the tensors: the GPU's own (preferably not
     * host-visible, the fast VRAM of a discrete GPU) */
    uint32_t dev_type = UINT32_MAX;
    for (int pass = 0; pass < 2 && dev_type == UINT32_MAX; pass++)
        for (uint32_t i = 0; i < mp.memoryTypeCount && dev_type == UINT32_MAX; i++)
            if ((mp.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) &&
                (pass || !(mp.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)))
                dev_type = i;
    VkPhysicalDeviceProperties props;
    vk.vkGetPhysicalDeviceProperties(pd, &props);
    const char *mem_env = getenv("IA_VULKAN_MEMORY");
    bool device_mem = props.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;
    if (mem_env && *mem_env) {
        if (strcmp(mem_env, "device") && strcmp(mem_env, "host"))
            return ia__error(IA_ERR_INVALID, "IA_VULKAN_MEMORY=%s: device or host", mem_env);
        device_mem = !strcmp(mem_env, "device");
    }
    if (device_mem && dev_type == UINT32_MAX)
        return ia__error(IA_ERR_UNSUPPORTED, "vulkan backend: %s has no device-local memory", vk.name[device]);

    ctx *c = calloc(1, sizeof *c);
    if (!c)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    c->mem_type = mem_type;
    c->dev_type = dev_type;
    c->device_mem = device_mem;
    const float prio = 1.0f;
    const VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                        .queueFamilyIndex = family,
                                        .queueCount = 1,
                                        .pQueuePriorities = &prio};
    const VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                                   .queueCreateInfoCount = 1,
                                   .pQueueCreateInfos = &qi};
    VkResult r = vk.vkCreateDevice(pd, &di, NULL, &c->dev);
    if (r != VK_SUCCESS) {
        c->dev = NULL;
        return vk_fail(c, r, "vkCreateDevice");
    }
#define LOAD(f)                                                                                                \
    if (!(c->f = (PFN_##f)vk.vkGetDeviceProcAddr(c->dev, #f)))                                                 \
        return vk_fail(c, VK_ERROR_INITIALIZATION_FAILED, "loading " #f);
    DEVICE_FNS(LOAD)
#undef LOAD
    c->vkGetDeviceQueue(c->dev, family, 0, &c->queue);
    const VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                        .queueFamilyIndex = family};
    if ((r = c->vkCreateCommandPool(c->dev, &pi, NULL, &c->pool)) != VK_SUCCESS)
        return vk_fail(c, r, "vkCreateCommandPool");
    const VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                            .commandPool = c->pool,
                                            .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                            .commandBufferCount = 1};
    if ((r = c->vkAllocateCommandBuffers(c->dev, &ai, &c->cmd)) != VK_SUCCESS ||
        (r = c->vkAllocateCommandBuffers(c->dev, &ai, &c->xcmd)) != VK_SUCCESS)
        return vk_fail(c, r, "vkAllocateCommandBuffers");
    const VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = c->vkCreateFence(c->dev, &fi, NULL, &c->fence)) != VK_SUCCESS ||
        (r = c->vkCreateFence(c->dev, &fi, NULL, &c->xfence)) != VK_SUCCESS)
        return vk_fail(c, r, "vkCreateFence");
    VkDescriptorSetLayoutBinding b[N_BIND];
    for (int i = 0; i < N_BIND; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                              .descriptorCount = 1,
                                              .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    const VkDescriptorSetLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                                .bindingCount = N_BIND,
                                                .pBindings = b};
    if ((r = c->vkCreateDescriptorSetLayout(c->dev, &li, NULL, &c->dsl)) != VK_SUCCESS)
        return vk_fail(c, r, "vkCreateDescriptorSetLayout");
    const VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = PUSH_BYTES};
    const VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                            .setLayoutCount = 1,
                                            .pSetLayouts = &c->dsl,
                                            .pushConstantRangeCount = 1,
                                            .pPushConstantRanges = &pcr};
    if ((r = c->vkCreatePipelineLayout(c->dev, &pli, NULL, &c->layout)) != VK_SUCCESS)
        return vk_fail(c, r, "vkCreatePipelineLayout");
    for (int k = 0; k < K_COUNT; k++) {
        const VkShaderModuleCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                             .codeSize = kernels[k].size,
                                             .pCode = kernels[k].code};
        VkShaderModule mod;
        if ((r = c->vkCreateShaderModule(c->dev, &si, NULL, &mod)) != VK_SUCCESS)
            return vk_fail(c, r, "vkCreateShaderModule");
        const VkComputePipelineCreateInfo ci = {
            .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
            .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                      .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                      .module = mod,
                      .pName = "main"},
            .layout = c->layout};
        r = c->vkCreateComputePipelines(c->dev, VK_NULL_HANDLE, 1, &ci, NULL, &c->pipe[k]);
        c->vkDestroyShaderModule(c->dev, mod, NULL);
        if (r != VK_SUCCESS) {
            c->pipe[k] = VK_NULL_HANDLE;
            return vk_fail(c, r, "vkCreateComputePipelines");
        }
    }
    c->fp16 = precision && !strcmp(precision, "fp16");
    const char *fault = getenv("IA_VULKAN_FAULT");
    if (fault && !strncmp(fault, "alloc:", 6))
        c->fault_alloc = strtoul(fault + 6, NULL, 10);
    else if (fault && !strncmp(fault, "submit:", 7))
        c->fault_submit = strtoul(fault + 7, NULL, 10);
    *out = c;
    return IA_OK;
}

static const char *precision(void *p)
{
    const ctx *c = p;
    return c && c->fp16 ? "fp16" : "fp32";
}

/* A buffer of `bytes` in mapped host-visible memory, sized up to whole
 * words (the shaders read block weights a word at a time). */
static bool vbuf_make_in(const ctx *c, size_t bytes, bool device, vbuf *out)
{
    vbuf nb = {.size = bytes ? (bytes + 3) & ~(size_t)3 : 4, .device = device};
    const VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                                   .size = nb.size,
                                   .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                            VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                                   .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    if (c->vkCreateBuffer(c->dev, &bi, NULL, &nb.buf) != VK_SUCCESS)
        return false;
    VkMemoryRequirements mr;
    c->vkGetBufferMemoryRequirements(c->dev, nb.buf, &mr);
    const uint32_t type = device ? c->dev_type : c->mem_type;
    const VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                     .allocationSize = mr.size,
                                     .memoryTypeIndex = type};
    void *map = NULL;
    if (!(mr.memoryTypeBits & (1u << type)) || c->vkAllocateMemory(c->dev, &ai, NULL, &nb.mem) != VK_SUCCESS) {
        c->vkDestroyBuffer(c->dev, nb.buf, NULL);
        return false;
    }
    if (c->vkBindBufferMemory(c->dev, nb.buf, nb.mem, 0) != VK_SUCCESS ||
        (device ? (map = mmap(NULL, page_round(nb.size), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                              -1, 0)) == MAP_FAILED
                : c->vkMapMemory(c->dev, nb.mem, 0, VK_WHOLE_SIZE, 0, &map) != VK_SUCCESS)) {
        nb.map = NULL;
        vbuf_free(c, &nb);
        return false;
    }
    nb.map = map;
    *out = nb;
    return true;
}

/* Host-visible and mapped: the host's tables, staging. */
static bool vbuf_make(const ctx *c, size_t bytes, vbuf *out)
{
    return vbuf_make_in(c, bytes, false, out);
}

static void *buf_alloc(void *p, size_t bytes)
{
    ctx *c = p;
    vbuf nb;
    pthread_mutex_lock(&c->lock);
    const bool fault = c->fault_alloc && ++c->n_alloc == c->fault_alloc;
    pthread_mutex_unlock(&c->lock);
    if (fault || !vbuf_make_in(c, bytes, c->device_mem, &nb))
        return NULL;
    pthread_mutex_lock(&c->lock);
    if (c->n_bufs == c->cap_bufs) {
        const int cap = c->cap_bufs ? 2 * c->cap_bufs : 16;
        vbuf *grown = realloc(c->bufs, (size_t)cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&c->lock);
            goto fail;
        }
        c->bufs = grown;
        c->cap_bufs = cap;
    }
    c->bufs[c->n_bufs++] = nb;
    pthread_mutex_unlock(&c->lock);
    return nb.map;
fail:
    vbuf_free(c, &nb);
    return NULL;
}

static void buf_free(void *p, void *ptr)
{
    ctx *c = p;
    if (!ptr)
        return;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->n_bufs; i++)
        if (c->bufs[i].map == ptr) {
            vbuf_free(c, &c->bufs[i]);
            c->bufs[i] = c->bufs[--c->n_bufs];
            break;
        }
    pthread_mutex_unlock(&c->lock);
}

static ia_status upload(void *p, void *dst, const void *src, size_t bytes);

/* A matmul weight in the instance's memory and precision (weight_prepare):
 * f32, or f16 at precision fp16. */
typedef struct prepared {
    ia_tensor w;
} prepared;

static ia_status weight_prepare(void *p, const ia_tensor *W, const ia_tensor *bias, const float *in_scale,
                                void **out)
{
    ctx *c = p;
    (void)bias, (void)in_scale;
    *out = NULL;
    const int64_t n_in = W->ne[0], n_out = W->ne[1];
    const ia_dtype t = c->fp16 ? IA_DTYPE_F16 : IA_DTYPE_F32;
    const size_t row = ia__dtype_row_bytes(t, n_in);
    prepared *pr = ia__calloc(1, sizeof *pr);
    float *tmp = ia__malloc((size_t)n_in * sizeof *tmp + 1);
    char *host = ia__malloc(row * (size_t)n_out + 1);
    char *buf = pr && tmp && host ? buf_alloc(c, row * (size_t)n_out) : NULL;
    if (!buf) {
        ia__free(pr);
        ia__free(tmp);
        ia__free(host);
        return ia__error(IA_ERR_NOMEM, "backend vulkan: out of memory for a [%lld, %lld] weight", (long long)n_in,
                         (long long)n_out);
    }
    for (int64_t r = 0; r < n_out; r++) { /* any dtype and row stride, to f32, to the compute type */
        ia__dtype(W->dtype)->to_f32((const char *)W->data + (size_t)r * W->nb[1], tmp, n_in);
        ia__dtype(t)->from_f32(tmp, host + (size_t)r * row, n_in);
    }
    ia__free(tmp);
    const ia_status rc = upload(c, buf, host, row * (size_t)n_out);
    ia__free(host);
    if (rc) {
        buf_free(c, buf);
        ia__free(pr);
        return rc;
    }
    pr->w = ia__tensor(t, n_in, n_out, 1, 1, buf);
    *out = pr;
    return IA_OK;
}

static void weight_release(void *p, void *prep)
{
    prepared *pr = prep;
    if (pr)
        buf_free(p, pr->w.data);
    ia__free(pr);
}

/* A matmul's weight as the shaders read it: its prepared form where it
 * has one. */
static const ia_tensor *weight_of(const ia_node *n)
{
    return n->src[1]->extra ? &((const prepared *)n->src[1]->extra)->w : n->src[1];
}

/* The allocation holding [data, data + bytes), or NULL (lock held). */
static const vbuf *find_buf(const ctx *c, const void *data, size_t bytes)
{
    const char *d = data;
    for (int i = 0; i < c->n_bufs; i++)
        if (d >= c->bufs[i].map && d + bytes <= c->bufs[i].map + c->bufs[i].size)
            return &c->bufs[i];
    return NULL;
}

/* The relative positions an attention node meets (key minus query
 * position: *rmin to *rmin + span - 1), as the CPU's op_attention counts
 * them: inside the longest packed sequence, else over the whole cache.
 * off: the node's sequence offsets, readable here (host_view), or NULL. */
static int64_t attn_span(const ia_node *n, const int32_t *off, int64_t *rmin)
{
    const int64_t nq = n->src[0]->ne[2], nkv = n->src[1]->ne[2], pos_q0 = n->p.attn.pos_q0;
    int64_t lo = -(pos_q0 + nq - 1), hi = nkv - 1 - pos_q0;
    if (n->src[3] && off) {
        int64_t longest = 1;
        for (int64_t s = 0; s + 1 < ia__tensor_nelements(n->src[3]); s++)
            longest = IA_MAX(longest, (int64_t)(off[s + 1] - off[s]));
        lo = -(longest - 1), hi = longest - 1;
    }
    *rmin = lo;
    return (hi < lo ? lo : hi) - lo + 1;
}

/* The matmul kernel for weights of dtype t, or -1. */
static int matmul_kernel(ia_dtype t)
{
    switch (t) {
    case IA_DTYPE_F32: return K_MATMUL;
    case IA_DTYPE_F16: return K_MATMUL_F16;
    case IA_DTYPE_BF16: return K_MATMUL_BF16;
    case IA_DTYPE_Q8_0: return K_MATMUL_Q8_0;
    case IA_DTYPE_Q4_0: return K_MATMUL_Q4_0;
    case IA_DTYPE_Q4_1: return K_MATMUL_Q4_1;
    case IA_DTYPE_I8: return K_MATMUL_I8;
    case IA_DTYPE_Q4_K: return K_MATMUL_Q4_K;
    case IA_DTYPE_Q5_K: return K_MATMUL_Q5_K;
    case IA_DTYPE_Q6_K: return K_MATMUL_Q6_K;
    default: return -1;
    }
}

/* The get_rows kernel for a table of dtype t, or -1. */
static int get_rows_kernel(ia_dtype t)
{
    switch (t) {
    case IA_DTYPE_F32: return K_GET_ROWS;
    case IA_DTYPE_F16: return K_GET_ROWS_F16;
    case IA_DTYPE_BF16: return K_GET_ROWS_BF16;
    case IA_DTYPE_Q8_0: return K_GET_ROWS_Q8_0;
    case IA_DTYPE_Q4_0: return K_GET_ROWS_Q4_0;
    case IA_DTYPE_Q4_1: return K_GET_ROWS_Q4_1;
    case IA_DTYPE_Q4_K: return K_GET_ROWS_Q4_K;
    case IA_DTYPE_Q5_K: return K_GET_ROWS_Q5_K;
    case IA_DTYPE_Q6_K: return K_GET_ROWS_Q6_K;
    case IA_DTYPE_I8: return K_GET_ROWS_I8;
    default: return -1;
    }
}

/* The kernel of a copy from dtype s to dtype d (both contiguous), or -1:
 * into f32 from any storage type, from f32 into f16 or bf16. */
static int cpy_kernel(ia_dtype s, ia_dtype d)
{
    if (d == IA_DTYPE_F32)
        switch (s) {
        case IA_DTYPE_F32: return K_ELTWISE;
        case IA_DTYPE_F16: return K_CPY_F16;
        case IA_DTYPE_BF16: return K_CPY_BF16;
        case IA_DTYPE_I8: return K_CPY_I8;
        case IA_DTYPE_Q8_0: return K_CPY_Q8_0;
        case IA_DTYPE_Q4_0: return K_CPY_Q4_0;
        case IA_DTYPE_Q4_1: return K_CPY_Q4_1;
        case IA_DTYPE_Q4_K: return K_CPY_Q4_K;
        case IA_DTYPE_Q5_K: return K_CPY_Q5_K;
        case IA_DTYPE_Q6_K: return K_CPY_Q6_K;
        default: return -1;
        }
    if (s == IA_DTYPE_F32)
        return d == IA_DTYPE_F16 ? K_CPY_TO_F16 : d == IA_DTYPE_BF16 ? K_CPY_TO_BF16 : -1;
    return -1;
}

/* Whether matmul quantizes the activations for weights of dtype t first
 * (quant_q8.comp, then matmul_q.comp). */
static bool quantizes_x(ia_dtype t)
{
    return t == IA_DTYPE_Q8_0 || t == IA_DTYPE_Q4_0 || t == IA_DTYPE_Q4_1;
}

/* The unit the shaders count a tensor's first element in: its element,
 * bytes for block types (read as words). */
static size_t elem_size(ia_dtype t)
{
    return t == IA_DTYPE_F16 || t == IA_DTYPE_BF16 ? 2 : t == IA_DTYPE_I8 || ia__dtype(t)->quantized ? 1 : 4;
}

/* Words of quant_q8.comp's blocks for M rows of K. */
static size_t qact_words(int64_t M, int64_t K)
{
    return (size_t)(M * (K / IA_QK)) * 10;
}

/* Bytes moved through the staging buffer at a time. */
enum { STAGING_BYTES = 16 << 20 };

/* Copy `bytes` between host memory and the backend's memory at dptr
 * (lock held): a memcpy in mapped memory; in device-local memory through
 * the staging buffer, a transfer submitted and waited for per chunk. */
static ia_status xfer(ctx *c, void *host, const void *dptr, size_t bytes, bool up)
{
    const vbuf *b = find_buf(c, dptr, bytes);
    if (!b)
        return ia__error(IA_ERR_INVALID, "vulkan backend: %s %zu bytes at %p: not this backend's memory",
                         up ? "upload of" : "download of", bytes, dptr);
    if (up)
        c->n_up++, c->bytes_up += bytes;
    else
        c->n_down++, c->bytes_down += bytes;
    if (!b->device) {
        memcpy(up ? (void *)(uintptr_t)dptr : host, up ? host : dptr, bytes);
        return IA_OK;
    }
    if (!c->staging.buf && !vbuf_make(c, STAGING_BYTES, &c->staging))
        return ia__error(IA_ERR_NOMEM, "vulkan backend: out of memory for a %d MiB staging buffer",
                         STAGING_BYTES >> 20);
    const size_t at = (size_t)((const char *)dptr - b->map);
    for (size_t done = 0; done < bytes;) {
        const size_t n = IA_MIN(bytes - done, (size_t)STAGING_BYTES);
        if (up)
            memcpy(c->staging.map, (const char *)host + done, n);
        const VkBufferCopy region = {.srcOffset = up ? 0 : at + done, .dstOffset = up ? at + done : 0, .size = n};
        const VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                             .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
        const VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                                 .pCommandBuffers = &c->xcmd};
        VkResult r;
        if ((r = c->vkResetCommandBuffer(c->xcmd, 0)) != VK_SUCCESS ||
            (r = c->vkBeginCommandBuffer(c->xcmd, &bi)) != VK_SUCCESS)
            return ia__error(IA_ERR_BACKEND, "vulkan backend: starting a transfer: VkResult %d", (int)r);
        c->vkCmdCopyBuffer(c->xcmd, up ? c->staging.buf : b->buf, up ? b->buf : c->staging.buf, 1, &region);
        if ((r = c->vkEndCommandBuffer(c->xcmd)) != VK_SUCCESS || (r = c->vkResetFences(c->dev, 1, &c->xfence)) ||
            (r = c->vkQueueSubmit(c->queue, 1, &si, c->xfence)) != VK_SUCCESS ||
            (r = c->vkWaitForFences(c->dev, 1, &c->xfence, VK_TRUE, UINT64_MAX)) != VK_SUCCESS)
            return ia__error(r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? IA_ERR_NOMEM : IA_ERR_BACKEND,
                             "vulkan backend: %s: VkResult %d%s", up ? "uploading" : "downloading", (int)r,
                             r == VK_ERROR_DEVICE_LOST ? " (device lost)" : "");
        if (!up)
            memcpy((char *)host + done, c->staging.map, n);
        done += n;
    }
    return IA_OK;
}

static ia_status upload(void *p, void *dst, const void *src, size_t bytes)
{
    ctx *c = p;
    pthread_mutex_lock(&c->lock);
    forget_seen(c);
    const ia_status rc = xfer(c, (void *)(uintptr_t)src, dst, bytes, true);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static ia_status download(void *p, void *dst, const void *src, size_t bytes)
{
    ctx *c = p;
    pthread_mutex_lock(&c->lock);
    const ia_status rc = xfer(c, dst, src, bytes, false);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* A tensor's bytes readable here (lock held): where they lie in mapped
 * memory, else downloaded into *own (the caller frees it). The host reads
 * a few small tensors to check or plan a node (ids, offsets, positions,
 * tables); they are the graph's inputs or weights, never written by an
 * earlier node of the same graph. NULL with the error set. */
static const void *host_view(ctx *c, const ia_tensor *t, void **own)
{
    *own = NULL;
    const size_t bytes = ia__tensor_span(t);
    const vbuf *b = find_buf(c, t->data, bytes);
    if (!b || !b->device)
        return t->data;
    for (int i = 0; i < c->n_seen; i++)
        if (c->seen[i].ptr == t->data && c->seen[i].bytes == bytes)
            return c->seen[i].copy;
    void *copy = ia__malloc(bytes ? bytes : 1);
    if (!copy) {
        ia__error(IA_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (xfer(c, copy, t->data, bytes, false)) {
        ia__free(copy);
        return NULL;
    }
    if (c->n_seen < (int)IA_ARRAY_LEN(c->seen))
        c->seen[c->n_seen++] = (__typeof__(c->seen[0])){t->data, bytes, copy};
    else
        *own = copy;
    return copy;
}

/* Why this backend does not compute a node ia__node_check accepted, or
 * NULL (lock held). */
static const char *why_not(ctx *c, const ia_node *n)
{
    if (n->flags & IA_NODE_W_INTERLEAVED8)
        return "weight rows interleaved in 8s (the CPU backend's layout)";
    switch (n->op) {
    case IA_OP_MATMUL:
        if (quantizes_x(n->src[1]->dtype) && ia__tensor_nrows(n->dst) > 65535)
            return "more than 65535 rows against q8_0, q4_0 or q4_1 weights";
        break;
    case IA_OP_ATTENTION:
        if (n->p.attn.bias != IA_ATTN_BIAS_NONE && n->p.attn.bias_table->dtype != IA_DTYPE_F32)
            return "a position bias table that is not f32";
        if (n->src[0]->ne[1] > 65535 || n->src[0]->ne[2] > 65535)
            return "more than 65535 heads or queries";
        break;
    case IA_OP_ADD:
    case IA_OP_MUL:
    case IA_OP_SCALE:
    case IA_OP_UNARY:
    case IA_OP_SOFTMAX:
    case IA_OP_LAYERNORM:
    case IA_OP_RMSNORM:
    case IA_OP_GLU:
    case IA_OP_GET_ROWS:
        break;
    case IA_OP_ROPE:
        if (n->p.rope.n_dims > 2 * MAX_ROPE_PAIRS)
            return "more than 1024 rotated dimensions";
        break;
    case IA_OP_CPY:
        if (cpy_kernel(n->src[0]->dtype, n->dst->dtype) < 0)
            return "a copy other than into f32, or from f32 into f16 or bf16";
        if ((n->dst->dtype == IA_DTYPE_F16 || n->dst->dtype == IA_DTYPE_BF16) &&
            (find_buf(c, n->dst->data, 1) == NULL ||
             ((const char *)n->dst->data - find_buf(c, n->dst->data, 1)->map) % 4))
            return "a half-type destination not starting on a 4-byte boundary";
        break;
    default:
        return "not in this slice (matmul, add, mul, scale, unary, glu, softmax, layernorm, rmsnorm, attention, "
               "rope, get_rows, cpy)";
    }
    if ((n->op == IA_OP_UNARY || n->op == IA_OP_MATMUL || n->op == IA_OP_GLU) && n->p.act > IA_ACT_SILU)
        return "an activation it does not know";
    const ia_tensor *t[5] = {n->dst, n->src[0], n->op == IA_OP_MATMUL ? weight_of(n) : n->src[1], n->src[2],
                             n->src[3]};
    for (int i = 0; i < 5; i++) {
        if (!t[i])
            continue;
        /* i32: the ids of get_rows, rope's positions, attention's sequence
         * offsets; f16 also: attention's keys and values (both or
         * neither); matmul weights and get_rows tables in other types */
        const bool ints = ((n->op == IA_OP_GET_ROWS || n->op == IA_OP_ROPE) && i == 2) ||
                          (n->op == IA_OP_ATTENTION && i == 4);
        const bool weight = (n->op == IA_OP_MATMUL && i == 2 && matmul_kernel(t[i]->dtype) >= 0) ||
                            (n->op == IA_OP_GET_ROWS && i == 1 && get_rows_kernel(t[i]->dtype) >= 0) ||
                            (n->op == IA_OP_CPY && i <= 1); /* cpy_kernel checked them */
        const bool f16 = t[i]->dtype == IA_DTYPE_F16 &&
                         (n->op == IA_OP_ATTENTION && (i == 2 || i == 3) && n->src[1]->dtype == n->src[2]->dtype);
        if (t[i]->dtype != (ints ? IA_DTYPE_I32 : IA_DTYPE_F32) && !f16 && !weight)
            return "f32 tensors only (i32 ids and offsets; f16 keys and values; matmul weights and get_rows "
                   "tables in f16, bf16, i8, q8_0, q4_0, q4_1, q4_K, q5_K or q6_K; copies between those and f32)";
        /* attention reads q, k and v with any head and token strides, rope
         * its input and output */
        const bool strided = (n->op == IA_OP_ATTENTION && i >= 1 && i <= 3) || (n->op == IA_OP_ROPE && i <= 1);
        const size_t esz = elem_size(t[i]->dtype);
        if (strided ? t[i]->nb[0] != esz || t[i]->nb[1] % esz || t[i]->nb[2] % esz || t[i]->ne[3] != 1
                    : !ia__tensor_contiguous(t[i]))
            return "contiguous tensors only (attention: rows of adjacent elements)";
        const size_t bytes = ia__tensor_span(t[i]);
        const vbuf *b = t[i]->data ? find_buf(c, t[i]->data, bytes) : NULL;
        if (!b || ((const char *)t[i]->data - b->map) % esz)
            return "a tensor outside this backend's memory";
        if ((size_t)((const char *)t[i]->data - b->map) / esz > UINT32_MAX || bytes / esz > UINT32_MAX)
            return "a tensor past 2^32 elements";
    }
    /* Values the shaders index with, read here. */
    const char *why = NULL;
    void *own = NULL;
    if (n->op == IA_OP_GET_ROWS) {
        const int32_t *id = host_view(c, n->src[1], &own);
        for (int64_t i = 0; id && !why && i < ia__tensor_nelements(n->src[1]); i++)
            if (id[i] < 0 || id[i] >= n->src[0]->ne[1])
                why = "a row id out of range";
        if (!id)
            why = "row ids that could not be read back";
    }
    if (n->op == IA_OP_ATTENTION) {
        int64_t longest = n->src[1]->ne[2];
        const int32_t *off = n->src[3] ? host_view(c, n->src[3], &own) : NULL;
        if (n->src[3] && !off)
            why = "sequence offsets that could not be read back";
        if (off) {
            const int64_t ns = ia__tensor_nelements(n->src[3]) - 1;
            if (off[0] != 0 || off[ns] != n->src[0]->ne[2])
                why = "sequence offsets that do not run from 0 to the number of tokens";
            longest = 0;
            for (int64_t s = 0; !why && s < ns; s++) {
                if (off[s + 1] < off[s])
                    why = "decreasing sequence offsets";
                longest = off[s + 1] - off[s] > longest ? off[s + 1] - off[s] : longest;
            }
        }
        if (!why && longest > MAX_KEYS)
            why = "more than 2048 keys for a query";
    }
    ia__free(own);
    if (why)
        return why;
    return NULL;
}

static bool supports(void *p, const ia_node *node)
{
    ctx *c = p;
    if (!c || !node || ia__node_check(node) != IA_OK)
        return false;
    pthread_mutex_lock(&c->lock);
    const bool ok = !why_not(c, node);
    pthread_mutex_unlock(&c->lock);
    return ok;
}

/* Bind kernel k with the node's buffers and push constants, dispatch
 * gx x gy workgroups and a barrier before the next node (lock held). */
static VkResult dispatch(ctx *c, int k, const VkDescriptorBufferInfo bi[N_BIND], const void *pc, uint32_t pc_size,
                         uint32_t gx, uint32_t gy)
{
    if (!gx || !gy)
        return VK_SUCCESS; /* an empty tensor: nothing to do */
    VkDescriptorSet set;
    const VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                            .descriptorPool = c->dpool,
                                            .descriptorSetCount = 1,
                                            .pSetLayouts = &c->dsl};
    VkResult r = c->vkAllocateDescriptorSets(c->dev, &ai, &set);
    if (r != VK_SUCCESS)
        return r;
    VkWriteDescriptorSet w[N_BIND];
    for (int i = 0; i < N_BIND; i++)
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstSet = set,
                                      .dstBinding = (uint32_t)i,
                                      .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &bi[i]};
    c->vkUpdateDescriptorSets(c->dev, N_BIND, w, 0, NULL);
    c->vkCmdBindPipeline(c->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, c->pipe[k]);
    c->vkCmdBindDescriptorSets(c->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, c->layout, 0, 1, &set, 0, NULL);
    c->vkCmdPushConstants(c->cmd, c->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, pc_size, pc);
    c->vkCmdDispatch(c->cmd, gx, gy, 1);
    /* the next node may read what this one wrote */
    const VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                                .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                                .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    c->vkCmdPipelineBarrier(c->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0,
                            1, &mb, 0, NULL, 0, NULL);
    return VK_SUCCESS;
}



/* Record one node (lock held, checked). */
static VkResult record(ctx *c, const ia_node *n)
{
    push pc = {0};
    VkDescriptorBufferInfo bi[N_BIND];
    const ia_tensor *t[N_TENSOR] = {n->dst, n->src[0], n->op == IA_OP_MATMUL ? weight_of(n) : n->src[1], n->src[2],
                                    n->src[3]};
    for (int i = 0; i < N_TENSOR; i++) {
        const ia_tensor *x = t[i] ? t[i] : n->dst; /* unused bindings point at dst */
        const vbuf *b = find_buf(c, x->data, 1);
        bi[i] = (VkDescriptorBufferInfo){.buffer = b->buf, .offset = 0, .range = VK_WHOLE_SIZE};
        /* the first element's index in the buffer (elem_size) */
        pc.off[i] = (uint32_t)((size_t)((const char *)x->data - b->map) / elem_size(x->dtype));
    }
    bi[N_TENSOR] = bi[0];
    for (int d = 0; d < 4; d++)
        pc.ne[d] = (uint32_t)n->dst->ne[d];
    const uint64_t total = (uint64_t)ia__tensor_nelements(n->dst);
    int k;
    uint32_t gx, gy = 1;
    switch (n->op) {
    case IA_OP_MATMUL:
        k = matmul_kernel(t[2]->dtype);
        if (k == K_MATMUL_F16 && c->fp16)
            k = K_MATMUL_F16_X16; /* fp16: the activations rounded too */
        pc.ne[2] = (uint32_t)n->src[0]->ne[0]; /* K */
        pc.act = (uint32_t)n->p.act;
        pc.flags = n->src[2] ? 1u : 0u;
        pc.ne[1] = (uint32_t)ia__tensor_nrows(n->dst);
        if (k >= K_MATMUL_I8 && k <= K_MATMUL_Q6_K) { /* dequantized as read */
            pc.bn[0] = (uint32_t)ia__dtype_row_bytes(t[2]->dtype, t[2]->ne[0]);
        } else if (quantizes_x(t[2]->dtype)) {
            /* the activations quantized into qact, then read from there */
            push pq = pc;
            VkDescriptorBufferInfo bq[N_BIND];
            memcpy(bq, bi, sizeof bq);
            bq[0] = (VkDescriptorBufferInfo){.buffer = c->qact.buf, .offset = 0, .range = VK_WHOLE_SIZE};
            const uint64_t blocks = (uint64_t)pc.ne[1] * (pc.ne[2] / IA_QK), groups = (blocks + 63) / 64;
            gx = (uint32_t)(groups < 65535 ? groups : 65535);
            VkResult r = dispatch(c, K_QUANT_Q8, bq, &pq, sizeof pq, gx, (uint32_t)((groups + gx - 1) / gx));
            if (r != VK_SUCCESS)
                return r;
            bi[1] = bq[0];
            pc.off[1] = 0;
            return dispatch(c, k, bi, &pc, sizeof pc, (uint32_t)((n->dst->ne[0] + 63) / 64), pc.ne[1]);
        }
        if (k <= K_MATMUL_BF16 && pc.ne[1] < MATVEC_ROWS) { /* a decode step: a thread per output (matvec.comp) */
            k += K_MATVEC - K_MATMUL; /* the four in the same order */
            return dispatch(c, k, bi, &pc, sizeof pc, (uint32_t)((n->dst->ne[0] + 63) / 64), pc.ne[1]);
        }
        gx = (uint32_t)((n->dst->ne[0] + 15) / 16);
        gy = (uint32_t)((ia__tensor_nrows(n->dst) + 15) / 16);
        break;
    case IA_OP_ATTENTION: {
        const ia_tensor *q = n->src[0], *kt = n->src[1], *v = n->src[2];
        const uint32_t kvsz = kt->dtype == IA_DTYPE_F16 ? 2 : 4; /* f16: counted in halves */
        push_attn pa = {.hd = (uint32_t)q->ne[0], .H = (uint32_t)q->ne[1], .Hk = (uint32_t)kt->ne[1],
                        .nq = (uint32_t)q->ne[2], .nkv = (uint32_t)kt->ne[2],
                        .qs1 = (uint32_t)(q->nb[1] / 4), .qs2 = (uint32_t)(q->nb[2] / 4),
                        .ks1 = (uint32_t)(kt->nb[1] / kvsz), .ks2 = (uint32_t)(kt->nb[2] / kvsz),
                        .vs1 = (uint32_t)(v->nb[1] / kvsz), .vs2 = (uint32_t)(v->nb[2] / kvsz),
                        .mask = (uint32_t)n->p.attn.mask, .window = (uint32_t)n->p.attn.window,
                        .n_seqs = n->src[3] ? (uint32_t)(ia__tensor_nelements(n->src[3]) - 1) : 0,
                        .pos_q0 = (int32_t)n->p.attn.pos_q0, .scale = n->p.attn.scale};
        memcpy(pa.off, pc.off, sizeof pa.off);
        if (n->p.attn.bias != IA_ATTN_BIAS_NONE) { /* each head's bias per relative position, as the CPU's */
            const ia_attn_params *ap = &n->p.attn;
            void *own_off = NULL, *own_tab = NULL;
            const int32_t *off = n->src[3] ? host_view(c, n->src[3], &own_off) : NULL;
            const char *tab = host_view(c, ap->bias_table, &own_tab);
            if ((n->src[3] && !off) || !tab) {
                ia__free(own_off), ia__free(own_tab);
                return VK_ERROR_OUT_OF_HOST_MEMORY;
            }
            int64_t rmin;
            const int64_t span = attn_span(n, off, &rmin), H = q->ne[1];
            float *f = (float *)(void *)(c->consts.map + c->consts_used);
            ia__attn_bias_fill(ap, tab, H, rmin, span, f);
            ia__free(own_off), ia__free(own_tab);
            pa.ob = (uint32_t)(c->consts_used / 4), pa.span = (uint32_t)span, pa.bias = 1, pa.rmin = (int32_t)rmin;
            c->consts_used += (size_t)(H * span) * sizeof(float);
            bi[N_TENSOR] = (VkDescriptorBufferInfo){.buffer = c->consts.buf, .offset = 0, .range = VK_WHOLE_SIZE};
        }
        return dispatch(c, kvsz == 2 ? K_ATTENTION_F16 : K_ATTENTION, bi, &pa, sizeof pa, pa.H, pa.nq);
    }
    case IA_OP_ROPE: {
        const ia_tensor *a = n->src[0], *d = n->dst;
        const ia_rope_params *rp = &n->p.rope;
        const int half = rp->n_dims / 2;
        /* cos and sin of every (token, pair), as the CPU backend computes
         * them (ops.c op_rope), from the positions (an input) */
        float *f = (float *)(void *)(c->consts.map + c->consts_used);
        void *own_ff = NULL, *own_ps = NULL;
        const float *ff = n->src[2] ? host_view(c, n->src[2], &own_ff) : NULL;
        const int32_t *ps = host_view(c, n->src[1], &own_ps);
        if ((n->src[2] && !ff) || !ps) {
            ia__free(own_ff), ia__free(own_ps);
            return VK_ERROR_OUT_OF_HOST_MEMORY;
        }
        const int64_t nt = a->ne[2];
        double freq[MAX_ROPE_PAIRS];
        for (int i = 0; i < half; i++)
            freq[i] = ia__rope_inv_freq(rp, i) / (ff ? ff[i] : 1.0);
        for (int64_t tok = 0; tok < nt; tok++)
            for (int i = 0; i < half; i++) {
                const double th = (double)ps[tok] * freq[i];
                f[2 * (tok * half + i)] = (float)cos(th);
                f[2 * (tok * half + i) + 1] = (float)sin(th);
            }
        ia__free(own_ff), ia__free(own_ps);
        bi[3] = (VkDescriptorBufferInfo){.buffer = c->consts.buf, .offset = 0, .range = VK_WHOLE_SIZE};
        push_rope pr = {.od = pc.off[0], .oa = pc.off[1], .op = pc.off[2], .of = (uint32_t)(c->consts_used / 4),
                        .nh = (uint32_t)a->ne[1], .nt = (uint32_t)a->ne[2], .half_dims = (uint32_t)half,
                        .n_dims = (uint32_t)rp->n_dims, .hd = (uint32_t)a->ne[0], .neox = rp->mode == IA_ROPE_NEOX,
                        .as1 = (uint32_t)(a->nb[1] / 4), .as2 = (uint32_t)(a->nb[2] / 4),
                        .ds1 = (uint32_t)(d->nb[1] / 4), .ds2 = (uint32_t)(d->nb[2] / 4)};
        c->consts_used += (size_t)(2 * nt * half) * sizeof(float);
        const uint64_t work = (uint64_t)(half + a->ne[0] - rp->n_dims) * (uint64_t)(a->ne[1] * a->ne[2]);
        const uint64_t groups = (work + 255) / 256;
        gx = (uint32_t)(groups < 65535 ? groups : 65535);
        return dispatch(c, K_ROPE, bi, &pr, sizeof pr, gx, (uint32_t)((groups + gx - 1) / gx));
    }
    case IA_OP_GET_ROWS: {
        const ia_dtype tt = n->src[0]->dtype;
        push_rows pr = {.od = pc.off[0], .ot = pc.off[1], .oi = pc.off[2], .ne0 = (uint32_t)n->dst->ne[0],
                        .n = (uint32_t)ia__tensor_nelements(n->src[1]), .rows = (uint32_t)n->src[0]->ne[1],
                        .rb = (uint32_t)ia__dtype_row_bytes(tt, n->src[0]->ne[0])};
        if (tt != IA_DTYPE_F32) /* dequant.glsl counts bytes */
            pr.ot *= (uint32_t)elem_size(tt);
        const uint64_t groups = (total + 255) / 256;
        gx = (uint32_t)(groups < 65535 ? groups : 65535);
        return dispatch(c, get_rows_kernel(tt), bi, &pr, sizeof pr, gx, (uint32_t)((groups + gx - 1) / gx));
    }
    case IA_OP_SOFTMAX:
    case IA_OP_LAYERNORM:
    case IA_OP_RMSNORM: {
        k = K_ROWS;
        pc.op = n->op == IA_OP_SOFTMAX ? 0u : n->op == IA_OP_LAYERNORM ? 1u : 2u;
        pc.f = n->op == IA_OP_SOFTMAX ? n->p.scale : n->p.eps;
        pc.flags = (n->src[1] ? 1u : 0u) | (n->src[2] ? 2u : 0u) | (n->src[3] ? 4u : 0u);
        const uint64_t rows = (uint64_t)ia__tensor_nrows(n->dst);
        gx = (uint32_t)(rows < 65535 ? rows : 65535);
        gy = (uint32_t)((rows + gx - 1) / gx);
        break;
    }
    case IA_OP_CPY: {
        const int kc = cpy_kernel(n->src[0]->dtype, n->dst->dtype);
        if (kc == K_ELTWISE)
            goto eltwise; /* f32 to f32: a unary op without activation */
        const ia_dtype st = n->src[0]->dtype;
        const uint32_t ne = (uint32_t)total;
        if (kc == K_CPY_TO_F16 || kc == K_CPY_TO_BF16) {
            const struct { uint32_t od, os, n; } ph = {pc.off[0], pc.off[1], ne};
            const uint64_t groups = ((uint64_t)ne / 2 + 1 + 255) / 256;
            gx = (uint32_t)(groups < 65535 ? groups : 65535);
            return dispatch(c, kc, bi, &ph, sizeof ph, gx, (uint32_t)((groups + gx - 1) / gx));
        }
        const struct { uint32_t od, ot, ne0, n, rb; } pd = {
            pc.off[0], pc.off[1] * (uint32_t)elem_size(st), (uint32_t)n->src[0]->ne[0], ne,
            (uint32_t)ia__dtype_row_bytes(st, n->src[0]->ne[0])};
        const uint64_t groups = ((uint64_t)ne + 255) / 256;
        gx = (uint32_t)(groups < 65535 ? groups : 65535);
        return dispatch(c, kc, bi, &pd, sizeof pd, gx, (uint32_t)((groups + gx - 1) / gx));
    }
    default:
    eltwise:
        k = K_ELTWISE;
        pc.op = n->op == IA_OP_ADD ? 0u : n->op == IA_OP_MUL ? 1u : n->op == IA_OP_SCALE ? 2u
              : n->op == IA_OP_UNARY || n->op == IA_OP_CPY ? 3u : 4u;
        if (n->op == IA_OP_GLU)
            pc.flags = n->src[1] ? 1u : 0u;
        pc.act = n->op == IA_OP_CPY ? 0u : (uint32_t)n->p.act; /* a copy: no activation */
        pc.f = n->op == IA_OP_SCALE ? n->p.scale : 0.0f;
        if (n->src[1])
            for (int d = 0; d < 4; d++)
                pc.bn[d] = (uint32_t)n->src[1]->ne[d];
        const uint64_t groups = (total + 255) / 256;
        gx = (uint32_t)(groups < 65535 ? groups : 65535);
        gy = (uint32_t)((groups + gx - 1) / gx);
        break;
    }
    return dispatch(c, k, bi, &pc, sizeof pc, gx, gy);
}

/* A descriptor pool with room for n sets (lock held). */
static VkResult ensure_pool(ctx *c, uint32_t n)
{
    if (c->dpool && c->dpool_sets >= n)
        return c->vkResetDescriptorPool(c->dev, c->dpool, 0);
    if (c->dpool)
        c->vkDestroyDescriptorPool(c->dev, c->dpool, NULL);
    c->dpool = VK_NULL_HANDLE;
    const uint32_t sets = n < 64 ? 64 : n;
    const VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = sets * N_BIND};
    const VkDescriptorPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                           .maxSets = sets,
                                           .poolSizeCount = 1,
                                           .pPoolSizes = &ps};
    VkResult r = c->vkCreateDescriptorPool(c->dev, &pi, NULL, &c->dpool);
    c->dpool_sets = r == VK_SUCCESS ? sets : 0;
    return r;
}

/* Room for `bytes` of host tables this graph (lock held; the previous
 * graph has finished with them). */
static VkResult ensure_consts(ctx *c, size_t bytes)
{
    c->consts_used = 0;
    if (bytes <= c->consts.size)
        return VK_SUCCESS;
    if (c->consts.buf)
        vbuf_free(c, &c->consts);
    c->consts = (vbuf){0};
    return vbuf_make(c, bytes < 4096 ? 4096 : 2 * bytes, &c->consts) ? VK_SUCCESS : VK_ERROR_OUT_OF_DEVICE_MEMORY;
}

/* Room for `bytes` of quantized activations (lock held). Grown, never
 * shrunk: the largest matmul's is a few MB. */
static VkResult ensure_qact(ctx *c, size_t bytes)
{
    if (!bytes || bytes <= c->qact.size)
        return VK_SUCCESS;
    if (c->qact.buf)
        vbuf_free(c, &c->qact);
    c->qact = (vbuf){0};
    return vbuf_make(c, bytes, &c->qact) ? VK_SUCCESS : VK_ERROR_OUT_OF_DEVICE_MEMORY;
}

static ia_status graph_compute(void *p, const ia_node *nodes, int n_nodes)
{
    ctx *c = p;
    if (!c || n_nodes < 0 || (n_nodes && !nodes))
        return ia__error(IA_ERR_INVALID, "vulkan graph_compute: %s", !c ? "no instance" : "bad node list");
    pthread_mutex_lock(&c->lock);
    forget_seen(c); /* the graph's inputs were written since */
    ia_status rc = IA_OK;
    /* Every node is checked before any runs: malformed first (the same
     * message as every backend), then this backend's limits. */
    for (int i = 0; i < n_nodes && !rc; i++)
        if ((rc = ia__node_check(&nodes[i])) != IA_OK)
            rc = ia__error_wrap(rc, "graph node %d (%s)", i, ia__op_name(nodes[i].op));
    for (int i = 0; i < n_nodes && !rc; i++) {
        const char *why = why_not(c, &nodes[i]);
        if (why)
            rc = ia__error(IA_ERR_UNSUPPORTED, "graph node %d (%s): the vulkan backend does not compute it: %s", i,
                           ia__op_name(nodes[i].op), why);
    }
    const char *what = NULL;
    VkResult r = VK_SUCCESS;
    if (!rc && n_nodes) {
        const VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                             .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
        size_t consts = 0, qact = 0;
        uint32_t sets = 0;
        for (int i = 0; i < n_nodes; i++) {
            const ia_node *nd = &nodes[i];
            if (nd->op == IA_OP_ROPE)
                consts += (size_t)(2 * nd->src[0]->ne[2] * (nd->p.rope.n_dims / 2)) * sizeof(float);
            if (nd->op == IA_OP_ATTENTION && nd->p.attn.bias != IA_ATTN_BIAS_NONE) {
                void *own = NULL;
                const int32_t *off = nd->src[3] ? host_view(c, nd->src[3], &own) : NULL;
                int64_t rmin;
                consts += (size_t)(nd->src[0]->ne[1] * attn_span(nd, off, &rmin)) * sizeof(float);
                ia__free(own);
            }
            const bool quantized = nd->op == IA_OP_MATMUL && quantizes_x(nd->src[1]->dtype);
            if (quantized)
                qact = IA_MAX(qact, qact_words(ia__tensor_nrows(nd->dst), nd->src[0]->ne[0]) * 4);
            sets += quantized ? 2 : 1;
        }
        if ((r = ensure_pool(c, sets)) != VK_SUCCESS)
            what = "creating a descriptor pool";
        else if ((r = ensure_consts(c, consts)) != VK_SUCCESS)
            what = "allocating the host tables";
        else if ((r = ensure_qact(c, qact)) != VK_SUCCESS)
            what = "allocating the quantized activations";
        else if ((r = c->vkResetCommandBuffer(c->cmd, 0)) != VK_SUCCESS ||
                 (r = c->vkBeginCommandBuffer(c->cmd, &bi)) != VK_SUCCESS)
            what = "starting a command buffer";
        for (int i = 0; i < n_nodes && !what; i++)
            if ((r = record(c, &nodes[i])) != VK_SUCCESS)
                what = "recording a node";
        const VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                                 .pCommandBuffers = &c->cmd};
        if (!what && (r = c->vkEndCommandBuffer(c->cmd)) != VK_SUCCESS)
            what = "ending the command buffer";
        if (!what && c->fault_submit && ++c->n_submit == c->fault_submit)
            r = VK_ERROR_DEVICE_LOST, what = "submitting (IA_VULKAN_FAULT)";
        if (!what && ((r = c->vkResetFences(c->dev, 1, &c->fence)) != VK_SUCCESS ||
                      (r = c->vkQueueSubmit(c->queue, 1, &si, c->fence)) != VK_SUCCESS))
            what = "submitting";
        if (!what && (r = c->vkWaitForFences(c->dev, 1, &c->fence, VK_TRUE, UINT64_MAX)) != VK_SUCCESS)
            what = "waiting for the device";
        if (what)
            rc = ia__error(r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? IA_ERR_NOMEM : IA_ERR_BACKEND,
                           "vulkan backend: %s: VkResult %d%s", what, (int)r,
                           r == VK_ERROR_DEVICE_LOST ? " (device lost)" : "");
    }
    forget_seen(c); /* the graph wrote its outputs */
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static const ia_backend vulkan_backend = {
    .api_version = IA_BACKEND_API_VERSION,
    .name = "vulkan",
    .iface = {
        .device_count = device_count,
        .device_name = device_name,
        .resolve_precision = resolve_precision,
        .open = open_instance,
        .close = close_instance,
        .precision = precision,
        .buf_alloc = buf_alloc,
        .buf_free = buf_free,
        .upload = upload,
        .download = download,
        .supports = supports,
        .graph_compute = graph_compute,
        .weight_prepare = weight_prepare,
        .weight_release = weight_release,
    },
};

const ia_backend *ia__backend_vulkan(void)
{
    return &vulkan_backend;
}

/* The CPU kernels compiled for portable (see kernels.inc). */

#define KSUF portable
#define KNAME "portable"
#include "backend/cpu/kernels.inc"

#include <math.h>
#include <pthread.h>

/* g (cpu-impl.h) on `pieces` pieces of [0, IA_GELU_END), of `degree`:
 * coef[p * pieces + s] is piece s's coefficient of a^p. */
static void interpolate(float *coef, int pieces, int degree)
{
    const int n = degree + 1;
    const double h = IA_GELU_END / pieces, pi = acos(-1.0);
    for (int s = 0; s < pieces; s++) {
        double node[8], c[8] = {0};
        for (int i = 0; i < n; i++)
            node[i] = h * (s + 0.5 + 0.5 * cos((2 * i + 1) * pi / (2 * n)));
        for (int i = 0; i < n; i++) { /* Lagrange basis i: prod_j (a - node_j) / (node_i - node_j) */
            double b[8] = {1}, d = 1;
            for (int j = 0, deg = 0; j < n; j++) {
                if (j == i)
                    continue;
                for (int p = ++deg; p > 0; p--)
                    b[p] = b[p - 1] - node[j] * b[p];
                b[0] *= -node[j];
                d *= node[i] - node[j];
            }
            const double y = node[i] * 0.5 * erfc(node[i] / sqrt(2.0)) / d;
            for (int p = 0; p < n; p++)
                c[p] += y * b[p];
        }
        for (int p = 0; p < n; p++)
            coef[p * pieces + s] = (float)c[p];
    }
}

static ia__gelu_coef gelu_coef;
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void gelu_init(void)
{
    interpolate(&gelu_coef.cubic[0][0], 32, 3);
    interpolate(&gelu_coef.quintic[0][0], 8, 5);
}

const ia__gelu_coef *ia__gelu_coef_get(void)
{
    pthread_once(&gelu_once, gelu_init);
    return &gelu_coef;
}

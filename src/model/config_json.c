/*
 * config.json readers the encoder families share (arch-impl.h): a key's
 * value checked against its range, or its default where the key is absent
 * or null, and otherwise an error naming the file and the key; and the
 * refusal of classification heads a family does not run.
 */
#include <stdbool.h>
#include <string.h>

#include "model/arch-impl.h"

ia_status ia__cfg_int(const cJSON *c, const char *path, const char *key, int lo, int hi, int dflt, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!v || cJSON_IsNull(v)) {
        if (dflt < lo)
            return ia__error(IA_ERR_FORMAT, "%s: missing \"%s\"", path, key);
        *out = dflt;
        return IA_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble || v->valuedouble < lo ||
        v->valuedouble > hi)
        return ia__error(IA_ERR_FORMAT, "%s: \"%s\" must be an integer from %d to %d", path, key, lo, hi);
    *out = (int)v->valuedouble;
    return IA_OK;
}

ia_status ia__cfg_num(const cJSON *c, const char *path, const char *key, double hi, double dflt, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return IA_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || v->valuedouble > hi)
        return ia__error(IA_ERR_FORMAT, "%s: \"%s\" must be a number in (0, %g]", path, key, hi);
    *out = v->valuedouble;
    return IA_OK;
}

ia_status ia__cfg_bool(const cJSON *c, const char *path, const char *key, bool dflt, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return IA_OK;
    }
    if (!cJSON_IsBool(v))
        return ia__error(IA_ERR_FORMAT, "%s: \"%s\" must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return IA_OK;
}

ia_status ia__cfg_refuse_cls_head(const cJSON *c, const char *path, const char *family, const char *why)
{
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(c, "architectures"), *a;
    cJSON_ArrayForEach(a, archs)
    if (cJSON_IsString(a) && strstr(a->valuestring, "ForSequenceClassification"))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: architectures \"%s\": %s classification heads are not supported "
                         "(%s); %s models embed", path, a->valuestring, family, why, family);
    return IA_OK;
}

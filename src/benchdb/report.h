/*
 * `bench report` (report.c): the stored runs as one self-contained HTML
 * page with inline SVG plots. Internal.
 */
#ifndef IA_BENCHDB_REPORT_H
#define IA_BENCHDB_REPORT_H

#include <stddef.h>

#include "benchdb/benchdb.h"

/* A point of the predicted-against-measured plot, computed by the caller
 * (it needs the model's architecture, which the database does not keep). */
typedef struct ia_report_pred {
    char label[128];
    double predicted_ms, measured_ms;
} ia_report_pred;

/* The page (*out: ia_free) for db, named db_path in its heading. Sections
 * without data say so in words instead of drawing. */
ia_status ia__benchdb_report_html(ia_benchdb *db, const char *db_path, const ia_report_pred *pred, size_t n_pred,
                                  char **out);

#endif

/* The table gen_null_calls.py writes: each public function called with
 * every argument zero. */
typedef struct null_call {
    const char *name;
    int (*call)(void);
    int returns_status; /* the function returns an ia_status */
} null_call;

extern const null_call null_calls[];
extern const int n_null_calls;

/*
 * no_entry.c — a test shared object that exports no rn_plugin_entry: the loader must refuse it.
 */
int rn_not_a_plugin(void);
int rn_not_a_plugin(void) { return 42; }

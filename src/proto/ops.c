/* The table of operations (see include/adbridge/ops.h): each entry is
 * defined with its decoder, runner and renderer in its family's file;
 * ADB_OPS indexes them by adb_op. */
#include "config.h"

#include "ops_internal.h"

#include <string.h>

const adb_op_def *const adb_ops[ADB_OP_COUNT_] = {
#define ENTRY(value, entry) [value] = &entry,
    ADB_OPS(ENTRY)
#undef ENTRY
};

const adb_op_def *adb_op_def_of(adb_op op)
{
    return op >= 0 && op < ADB_OP_COUNT_ ? adb_ops[op] : NULL;
}

const char *adb_op_name(adb_op op)
{
    const adb_op_def *def = adb_op_def_of(op);

    return def != NULL ? def->name : NULL;
}

adb_op adb_op_from_name(const char *name)
{
    for (int i = 0; name != NULL && i < ADB_OP_COUNT_; i++)
        if (strcmp(adb_ops[i]->name, name) == 0)
            return (adb_op)i;
    return ADB_OP_NONE;
}

adb_op adb_op_from_command(const char *command)
{
    for (int i = 0; command != NULL && i < ADB_OP_COUNT_; i++)
        if (adb_ops[i]->cli != NULL && strcmp(adb_ops[i]->cli->command, command) == 0)
            return (adb_op)i;
    return ADB_OP_NONE;
}

json_t *op_cursor_json(const char *cursor)
{
    return cursor[0] != '\0' ? json_string(cursor) : json_null();
}

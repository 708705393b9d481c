/* Version of the library and programs (from configure.ac). */
#ifndef ADBRIDGE_VERSION_H
#define ADBRIDGE_VERSION_H

const char *adb_version(void);

#endif

/*
 * fuzz-hubreply: what the jitsu-hubcall helper prints, as root in jitsud
 * reads it (jitsud/hubreply.c). Every outcome must keep the promises of
 * hubreply.h: an answer only as an object with a status of 0 to 999, else
 * no answer and a one-line reason with no control characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../jitsud/hubreply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	long status = -1;
	json_t *answer = (json_t *)1;
	if (hubreply_parse((const char *)data, size, &status, &answer, err, sizeof err) == 0) {
		CHECK(json_is_object(answer) && status >= 0 && status <= 999);
		json_decref(answer);
		return 0;
	}
	CHECK(answer == NULL && err[0] && strlen(err) < sizeof err);
	for (const char *p = err; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	return 0;
}

# Turns a file into C: `const char NAME[]` (NUL-terminated) and
# `const size_t NAME_len`. Run by the build (cmake -DIN= -DOUT= -DNAME= -P);
# the output lives in the build tree and is never committed.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT}.tmp "/* Generated from ${IN} by tools/embed.cmake. */\n#include <stddef.h>\nconst char ${NAME}[] = {\n${bytes}0x00};\nconst size_t ${NAME}_len = sizeof ${NAME} - 1;\n")
file(RENAME ${OUT}.tmp ${OUT})

# protoc-c names service members after RPC methods, so the device-plugin RPC "Register" becomes a
# struct member called "register" — a C keyword. We only use the message types, so rename the
# member in the generated files. Invoked as: cmake -DFILES="a;b" -P fix_c_keywords.cmake
foreach(f ${FILES})
        file(READ ${f} text)
        string(REGEX REPLACE "\\(\\*register\\)\\(" "(*register_)(" text "${text}")
        string(REGEX REPLACE "## register([ \t]+)}" "## register_\\1}" text "${text}")
        file(WRITE ${f} "${text}")
endforeach()

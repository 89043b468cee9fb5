#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "${GREETING}: ${REQUEST_METHOD} ${PATH_INFO:-/}"

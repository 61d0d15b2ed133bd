import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunks/chunk-ZQHJZKNO.mjs";import"./chunks/chunk-4RVJU65U.mjs";import"./chunks/chunk-P5OX7AA3.mjs";import"./chunks/chunk-5BEN6JAN.mjs";await a("finalize");

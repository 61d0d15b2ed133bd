import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunks/chunk-2AWQ273N.mjs";import"./chunks/chunk-4RVJU65U.mjs";import"./chunks/chunk-2ZW2CLLO.mjs";import"./chunks/chunk-5BEN6JAN.mjs";await a("supply");

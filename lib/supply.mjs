import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunks/chunk-XWELGMFS.mjs";import"./chunks/chunk-4RVJU65U.mjs";import"./chunks/chunk-GSMUBSVC.mjs";import"./chunks/chunk-5BEN6JAN.mjs";await a("supply");

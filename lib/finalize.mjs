import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunks/chunk-ABOU5P2E.mjs";import"./chunks/chunk-4RVJU65U.mjs";import"./chunks/chunk-LV7Q5SRE.mjs";import"./chunks/chunk-5BEN6JAN.mjs";await a("finalize");

import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunks/chunk-UJPDENE3.mjs";import"./chunks/chunk-4RVJU65U.mjs";import"./chunks/chunk-63OBLLQD.mjs";import"./chunks/chunk-47AYPZ7L.mjs";import"./chunks/chunk-5BEN6JAN.mjs";await a("supply");

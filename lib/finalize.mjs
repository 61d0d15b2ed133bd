import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunks/chunk-SD2UU2EN.mjs";import"./chunks/chunk-LV7Q5SRE.mjs";import"./chunks/chunk-4MNXEZ6P.mjs";import"./chunks/chunk-ERTEFZE6.mjs";import"./chunks/chunk-5BEN6JAN.mjs";await a("finalize");

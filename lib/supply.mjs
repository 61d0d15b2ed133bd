import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunks/chunk-EYMSTBF7.mjs";import"./chunks/chunk-UEBLY4RQ.mjs";import"./chunks/chunk-4MNXEZ6P.mjs";import"./chunks/chunk-ERTEFZE6.mjs";import"./chunks/chunk-5BEN6JAN.mjs";await a("supply");

import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunks/chunk-TDIMB2IY.mjs";import"./chunks/chunk-W7IYVBHT.mjs";import"./chunks/chunk-4MNXEZ6P.mjs";import"./chunks/chunk-ERTEFZE6.mjs";import"./chunks/chunk-5BEN6JAN.mjs";await a("supply");

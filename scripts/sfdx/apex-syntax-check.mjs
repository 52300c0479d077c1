#!/usr/bin/env node
// Parses every Apex class (.cls) and trigger (.trigger) under a folder with @apexdevtools/apex-parser
// and reports each syntax error as path:line:column: message. Exits 1 on any error, 2 when no Apex was found.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ApexErrorListener, ApexParserFactory } from '@apexdevtools/apex-parser';

class CollectingListener extends ApexErrorListener {
    constructor() {
        super();
        this.errors = [];
    }

    apexSyntaxError(line, column, message) {
        this.errors.push({ line, column, message });
    }
}

function apexFiles(dir) {
    return readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) {
            return name === 'node_modules' ? [] : apexFiles(path);
        }
        return /\.(cls|trigger)$/.test(name) ? [path] : [];
    });
}

const root = process.argv[2] ?? 'sfdx-package';
const files = apexFiles(root);
let errors = 0;
for (const file of files) {
    const listener = new CollectingListener();
    const { parser } = ApexParserFactory.createLexerAndParser(readFileSync(file, 'utf8'), listener);
    if (file.endsWith('.trigger')) {
        parser.triggerUnit();
    } else {
        parser.compilationUnit();
    }
    for (const { line, column, message } of listener.errors) {
        console.log(`${relative(process.cwd(), file)}:${line}:${column}: ${message}`);
        errors += 1;
    }
}
console.log(`apex syntax: ${files.length} files parsed, ${errors} error(s)`);
process.exit(files.length === 0 ? 2 : errors > 0 ? 1 : 0);
